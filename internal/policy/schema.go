package policy

import (
	"fmt"
	"io/fs"
	"regexp"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/bulwark-security/bulwark/deploy/crds"
)

// schema is the subset of a CRD's structural OpenAPI v3 schema that the
// KubeArmor CRDs use.
type schema struct {
	Type                 string             `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	AdditionalProperties *schema            `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	Required             []string           `json:"required"`
	Enum                 []string           `json:"enum"`
	Pattern              string             `json:"pattern"`
	Minimum              *float64           `json:"minimum"`
	Maximum              *float64           `json:"maximum"`
	MaxLength            *int               `json:"maxLength"`
	MaxItems             *int               `json:"maxItems"`

	re *regexp.Regexp
}

type crdFile struct {
	Spec struct {
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema *schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

var schemas = sync.OnceValues(loadSchemas)

// loadSchemas reads the v1 schema of every embedded CRD, keyed by kind.
func loadSchemas() (map[Kind]*schema, error) {
	files, err := fs.Glob(crds.FS, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list CRDs: %w", err)
	}
	out := make(map[Kind]*schema, len(files))
	for _, name := range files {
		data, err := crds.FS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read CRD %s: %w", name, err)
		}
		var crd crdFile
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("parse CRD %s: %w", name, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != "v1" || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			if err := v.Schema.OpenAPIV3Schema.compile(); err != nil {
				return nil, fmt.Errorf("CRD %s: %w", name, err)
			}
			out[Kind(crd.Spec.Names.Kind)] = v.Schema.OpenAPIV3Schema
		}
	}
	return out, nil
}

// compile compiles the patterns of s and its children.
func (s *schema) compile() error {
	if s == nil {
		return nil
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return fmt.Errorf("pattern %q: %w", s.Pattern, err)
		}
		s.re = re
	}
	for _, p := range s.Properties {
		if err := p.compile(); err != nil {
			return err
		}
	}
	if err := s.AdditionalProperties.compile(); err != nil {
		return err
	}
	return s.Items.compile()
}
