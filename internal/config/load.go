package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Options say where Load reads the configuration. The zero value loads the
// defaults only.
type Options struct {
	// File is the YAML configuration file; empty for none. A missing file
	// is an error.
	File string
	// Flags, when set, is a parsed flag set on which RegisterFlags was
	// called; the flags the user gave override everything else.
	Flags *pflag.FlagSet
	// Environ is the environment as "KEY=VALUE" strings (os.Environ());
	// nil means no environment overrides.
	Environ []string
	// Hostname returns the default for the host key; nil means os.Hostname.
	Hostname func() (string, error)
}

// maxFileSize bounds the configuration file.
const maxFileSize = 1 << 20

// policyDirAlias is the dashed alias of --policyDir that bulwarkd documents.
const policyDirAlias = "policy-dir"

// RegisterFlags adds one flag per configuration key (named like the key)
// to fs, plus --policy-dir for policyDir. Flags only override the other
// sources when given.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, k := range keys {
		f := fs.VarPF(&flagValue{}, k.Name, "", k.Help+" (default "+quoteDefault(k.Default)+")")
		if k.boolean {
			f.NoOptDefVal = "true"
		}
	}
	fs.Var(&flagValue{}, policyDirAlias, "alias of --policyDir")
}

func quoteDefault(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// flagValue holds a flag's text; Load parses it with the key's rules.
type flagValue struct{ v string }

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(s string) error { f.v = s; return nil }
func (f *flagValue) Type() string       { return "string" }

// Load reads the configuration from opts, validates it and returns it. All
// problems are returned together, joined; each is an *Error.
func Load(opts Options) (*Config, error) {
	c := &Config{origins: map[string]Origin{}}
	var errs []error
	for _, k := range keys {
		if err := k.parse(c, k.Default); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", k.Name, err))
		}
	}
	if opts.File != "" {
		errs = append(errs, c.applyFile(opts.File)...)
	}
	errs = append(errs, c.applyEnv(opts.Environ)...)
	if opts.Flags != nil {
		errs = append(errs, c.applyFlags(opts.Flags)...)
	}
	errs = append(errs, c.resolve(opts)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (c *Config) set(k *Key, v string, o Origin) error {
	if err := k.parse(c, v); err != nil {
		return &Error{Origin: o, Key: k.Name, Err: err}
	}
	c.origins[k.Name] = o
	return nil
}

func (c *Config) applyFile(name string) []error {
	fileErr := func(err error) []error {
		return []error{&Error{Origin: Origin{Source: SourceFile, File: name}, Err: err}}
	}
	f, err := os.Open(name)
	if err != nil {
		return fileErr(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fileErr(err)
	}
	if len(data) > maxFileSize {
		return fileErr(fmt.Errorf("larger than %d bytes", maxFileSize))
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fileErr(fmt.Errorf("invalid YAML: %w", err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fileErr(errors.New("more than one YAML document"))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	at := func(n *yaml.Node) Origin {
		return Origin{Source: SourceFile, File: name, Line: n.Line, Column: n.Column}
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return []error{&Error{Origin: at(root), Err: errors.New("the configuration must be a mapping of keys to values")}}
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], root.Content[i+1]
		k := lookupKey(kn.Value)
		if k == nil {
			errs = append(errs, &Error{Origin: at(kn), Key: kn.Value, Err: fmt.Errorf("unknown key%s", suggest(kn.Value))})
			continue
		}
		if seen[k.Name] {
			errs = append(errs, &Error{Origin: at(kn), Key: kn.Value, Err: errors.New("duplicate key")})
			continue
		}
		seen[k.Name] = true
		v, err := scalarText(vn)
		if err != nil {
			errs = append(errs, &Error{Origin: at(vn), Key: k.Name, Err: err})
			continue
		}
		if err := c.set(k, v, at(vn)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// scalarText returns a value node as text: scalars as written, sequences
// of scalars as a comma list.
func scalarText(n *yaml.Node) (string, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode {
				return "", errors.New("list items must be scalars")
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("value must be a scalar or a list")
}

// suggest names a key that differs from name only by case-insensitive
// edit distance 1 or 2, as a hint.
func suggest(name string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := distance(strings.ToLower(name), strings.ToLower(k.Name)); d < bestD {
			best, bestD = k.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (c *Config) applyEnv(environ []string) []error {
	var errs []error
	byEnv := map[string]*Key{}
	for _, k := range keys {
		byEnv[k.EnvName()] = k
	}
	for _, kv := range environ {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "BULWARK_") {
			continue
		}
		k := byEnv[name]
		if k == nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("environment %s: not a configuration key, ignored", name))
			continue
		}
		if err := c.set(k, v, Origin{Source: SourceEnv, Name: name}); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (c *Config) applyFlags(fs *pflag.FlagSet) []error {
	var errs []error
	fs.Visit(func(f *pflag.Flag) {
		name := f.Name
		if name == policyDirAlias {
			name = "policyDir"
		}
		k := lookupKey(name)
		if k == nil || k.Name != name {
			return // not a configuration flag
		}
		if err := c.set(k, f.Value.String(), Origin{Source: SourceFlag, Name: f.Name}); err != nil {
			errs = append(errs, err)
		}
	})
	return errs
}

// resolve fills the defaults that depend on other keys and checks the
// keys against each other.
func (c *Config) resolve(opts Options) []error {
	var errs []error
	if c.Host == "" {
		hostname := opts.Hostname
		if hostname == nil {
			hostname = os.Hostname
		}
		h, err := hostname()
		if err != nil || h == "" {
			errs = append(errs, &Error{Origin: c.Origin("host"), Key: "host", Err: errors.New("no host name given and the hostname is unknown")})
		}
		c.Host = h
	}
	if !c.K8s {
		if _, set := c.origins["enableKubeArmorHostPolicy"]; !set {
			c.EnableKubeArmorHostPolicy = true
		}
	}
	if slices.Equal(c.HostVisibility, []string{"default"}) {
		if c.K8s {
			c.HostVisibility = []string{"none"}
		} else {
			c.HostVisibility = splitList(allVisibility)
		}
	}
	if slices.Contains(c.LSM, "none") {
		if len(c.LSM) > 1 {
			errs = append(errs, &Error{Origin: c.Origin("lsm"), Key: "lsm", Err: errors.New("none cannot be combined with other LSMs")})
		}
		c.LSM = []string{}
	}
	if c.K8s {
		errs = append(errs, &Error{Origin: c.Origin("k8s"), Key: "k8s", Err: errors.New("kubernetes mode is not supported yet; set k8s: false")})
	}
	if network, addr := c.GRPCListen(); network == "tcp" && c.GRPCHealthPort != 0 {
		if _, port, _ := net.SplitHostPort(addr); port == strconv.Itoa(c.GRPCHealthPort) {
			errs = append(errs, &Error{Origin: c.Origin("gRPCHealthPort"), Key: "gRPCHealthPort",
				Err: fmt.Errorf("port %d is also the gRPC port", c.GRPCHealthPort)})
		}
	}
	return errs
}
