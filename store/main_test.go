package store

import (
	"os"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestMain reports once how many PostgreSQL cases were left out.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// testURL parses a store URL from testenv.
func testURL(t testing.TB, s string) URL {
	t.Helper()
	u, err := ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
