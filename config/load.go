package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load builds the configuration: defaults, then the YAML file at path (if
// path is not empty; unknown keys are errors), then the QOO10HOOK_*
// environment read through getenv, then validation. Every error names the
// field at fault and how to fix it.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := decodeStrict(raw, cfg); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		cfg.File = path
		if err := cfg.readBodyFiles(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if getenv != nil {
		if err := applyEnv(reflect.ValueOf(cfg).Elem(), getenv); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeStrict decodes YAML into cfg, refusing keys the structs do not
// have, with the line and the allowed keys in the message.
func decodeStrict(raw []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil // an empty file keeps the defaults
	}
	if err := checkKeys(doc.Content[0], reflect.TypeOf(*cfg), ""); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return cleanYAMLError(err)
	}
	return nil
}

func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		known := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			known[name] = f.Type
			names = append(names, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			ft, ok := known[key.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown key %q in %s (known keys: %s)",
					key.Line, key.Value, orTop(path), strings.Join(names, ", "))
			}
			if err := checkKeys(val, ft, join(path, key.Value)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// cleanYAMLError drops the "yaml: unmarshal errors:" preamble.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}

func (c *Config) readBodyFiles(dir string) error {
	for i := range c.Parse.Templates {
		t := &c.Parse.Templates[i]
		if t.BodyFile == "" {
			continue
		}
		if t.Body != "" {
			return fmt.Errorf("parse.templates[%d] (%s): set body or body_file, not both", i, t.Name)
		}
		p := t.BodyFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("parse.templates[%d].body_file: %w", i, err)
		}
		t.Body = string(b)
	}
	return nil
}

// normalize lower-cases addresses and domains and trims stray spaces, so
// that matching and validation see one spelling.
func (c *Config) normalize() {
	for i, d := range c.Domains {
		c.Domains[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
	}
	c.Domains = slices.DeleteFunc(c.Domains, func(s string) bool { return s == "" })
	for i := range c.Routes {
		for j, r := range c.Routes[i].Recipients {
			c.Routes[i].Recipients[j] = strings.ToLower(strings.TrimSpace(r))
		}
	}
	c.normalizeFrontDoor()
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
}
