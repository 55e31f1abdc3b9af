// Package jsonline encodes the feeder records (Alert, Log, Message) as JSON
// without reflection and without allocating.
//
// The output is byte for byte what encoding/json.Marshal writes for the
// same value: fields in declaration order under their json tag names,
// omitempty honoured per field type (zero integers, empty strings, nil
// pointers, empty slices and maps are left out), map keys sorted, and
// strings escaped exactly as encoding/json escapes them: ", \ and control
// characters, <, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029,
// and every invalid UTF-8 byte as \ufffd. A nil record is "null".
//
// NoEscapeHTML selects the output of a json.Encoder after
// SetEscapeHTML(false), less its trailing newline: <, > and & are written
// as they are, everything else is the same.
//
// The encoder knows the fields of the feeder structs by name; a test walks
// the structs with reflect and fails when one gains a field the encoder
// does not write, and differential tests and fuzz targets compare every
// output with encoding/json's.
package jsonline
