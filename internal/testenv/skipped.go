package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// skippedPostgres counts the PostgreSQL cases this test binary left out.
var skippedPostgres atomic.Int64

// Main runs a package's tests, from its TestMain, and returns the exit
// code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// Without QOO10HOOK_TEST_POSTGRES the PostgreSQL cases are left out, and
// the run should say so once, not once per test: `go test ./...` shows
// nothing a passing package prints, so a per-test log line is never seen,
// and one per package would be a dozen lines. Each package adds its count
// to a tally shared by the test binaries of one `go test` run (they have
// the go command as parent), and the last of them to finish prints the
// total on the terminal (/dev/tty, which `go test` does not capture;
// standard output when there is no terminal, shown with -v).
func Main(m *testing.M) int {
	code := m.Run()
	if n := skippedPostgres.Load(); n > 0 {
		reportSkipped(n)
	}
	return code
}

// countSkipped records one PostgreSQL case left out.
func countSkipped() { skippedPostgres.Add(1) }

func reportSkipped(n int64) {
	tally := filepath.Join(os.TempDir(), fmt.Sprintf("qoo10hook-postgres-skipped-%d", os.Getppid()))
	total, last := addToTally(tally, n)
	if !last {
		return
	}
	line := fmt.Sprintf("qoo10hook: %d PostgreSQL test cases skipped; to run them, give the tests a database: "+
		"%s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test ./...\n", total, PostgresEnv)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		tty.WriteString(line)
		tty.Close()
		return
	}
	os.Stdout.WriteString(line)
}

// addToTally adds n to the count kept in file, under an exclusive lock,
// and tells the total and whether this is the last test binary of the
// run still going; the last one removes the file.
func addToTally(file string, n int64) (total int64, last bool) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return n, true
	}
	defer f.Close()
	unlock := lockFile(f)
	defer unlock()
	var b [32]byte
	k, _ := f.ReadAt(b[:], 0)
	before, _ := strconv.ParseInt(strings.TrimSpace(string(b[:k])), 10, 64)
	total = before + n
	if otherTestsRunning() {
		f.Truncate(0)
		f.WriteAt([]byte(strconv.FormatInt(total, 10)), 0)
		return total, false
	}
	os.Remove(file)
	return total, true
}

// otherTestsRunning reports whether the go command that started this
// test binary has other children at work: test binaries of other
// packages, or the compilers and linkers making them.
func otherTestsRunning() bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false // no /proc: every package reports its own count
	}
	parent, self := os.Getppid(), os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) >= 2 && fields[1] == strconv.Itoa(parent) {
			return true
		}
	}
	return false
}
