// Package crds embeds the CustomResourceDefinitions that controller-gen
// generates from api/security/v1, so that tools can validate policies
// against exactly the schemas a cluster would enforce.
package crds

import "embed"

// FS holds the generated CRD manifests (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
