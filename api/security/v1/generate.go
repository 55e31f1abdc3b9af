package v1

//go:generate go tool controller-gen object paths=./...
//go:generate go tool controller-gen crd paths=./... output:crd:dir=../../../deploy/crds
