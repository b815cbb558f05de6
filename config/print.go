package config

import (
	"io"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Write prints the effective configuration as YAML, secrets as <secret>:
// the secrets themselves, and the password and query values of URLs
// (webhook URLs often carry a token there).
func (c *Config) Write(w io.Writer) error {
	shown := *c
	shown.Store.URL = shownURL(c.Store.URL)
	shown.Webhook.URL = shownURL(c.Webhook.URL)
	shown.Endpoints = make([]Endpoint, len(c.Endpoints))
	for i, e := range c.Endpoints {
		e.URL = shownURL(e.URL)
		shown.Endpoints[i] = e
	}
	if c.Endpoints == nil {
		shown.Endpoints = nil
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&shown); err != nil {
		return err
	}
	return enc.Close()
}

// shownURL is a URL as check-config prints it: password and query values
// hidden, the rest kept so that the operator recognises it.
func shownURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.User == nil && u.RawQuery == "") {
		return s
	}
	// A marker that survives URL escaping, swapped for <secret> at the end.
	const mark = "REDACTEDSECRET"
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), mark)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{mark}
		}
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), mark, "<secret>")
}
