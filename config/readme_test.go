package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryVariable keeps the table of environment twins in
// docs/configuration.md complete.
func TestDocsListEveryVariable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range EnvVars() {
		if !strings.Contains(string(doc), "| `"+v.Name+"` |") {
			t.Errorf("docs/configuration.md does not document %s (%s)", v.Name, v.Key)
		}
	}
}
