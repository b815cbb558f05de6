package store

import (
	"os"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestMain reports once how many PostgreSQL cases were left out.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
