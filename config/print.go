package config

import (
	"io"
	"net/url"

	"go.yaml.in/yaml/v3"
)

// Write prints the effective configuration as YAML, secrets as <secret>.
func (c *Config) Write(w io.Writer) error {
	shown := *c
	if u, err := url.Parse(c.Store.URL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "<secret>")
			shown.Store.URL = u.String()
		}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&shown); err != nil {
		return err
	}
	return enc.Close()
}
