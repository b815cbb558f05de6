package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readDocs is the README and every page under docs/, as one text.
func readDocs(t *testing.T) string {
	t.Helper()
	var all strings.Builder
	for _, glob := range []string{"../README.md", "../docs/*.md"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b)
		}
	}
	return all.String()
}

// usageCommandRE matches a command's line in the usage text.
var usageCommandRE = regexp.MustCompile(`(?m)^  qoo10hook .*$`)

// TestDocsListEveryCommand: every command of the usage text is in the
// documentation, with its flags.
func TestDocsListEveryCommand(t *testing.T) {
	t.Parallel()
	docs := readDocs(t)
	_, usage, _ := runCLI(t, nil, "help")
	cmds := usageCommandRE.FindAllStringSubmatch(usage, -1)
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in the usage text", len(cmds))
	}
	for _, c := range cmds {
		// The synopsis, without the explanation after two spaces.
		synopsis, _, _ := strings.Cut(strings.TrimSpace(c[0]), "  ")
		if !strings.Contains(docs, synopsis) {
			t.Errorf("the documentation does not show %q", synopsis)
		}
	}
}

var apiPatternRE = regexp.MustCompile(`h\.mux\.HandleFunc\("((?:GET|POST) /api/v1/[^"]+)"`)

// TestDocsListEveryAPIPath: every admin API route is in the
// documentation's tables.
func TestDocsListEveryAPIPath(t *testing.T) {
	t.Parallel()
	docs := readDocs(t)
	src, err := os.ReadFile("../admin/api.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := apiPatternRE.FindAllStringSubmatch(string(src), -1)
	if len(routes) < 10 {
		t.Fatalf("found %d API routes in admin/api.go", len(routes))
	}
	for _, r := range routes {
		if !strings.Contains(docs, "`"+r[1]) {
			t.Errorf("the documentation does not list %s", r[1])
		}
	}
}
