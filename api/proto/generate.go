package protoapi

//go:generate bash gen.sh
