package store

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// walVFSName is the SQLite VFS the store opens its SQLite files with: the
// unix VFS, except that a WAL file gathers the frames of a commit and
// writes them with one system call.
//
// SQLite writes each WAL frame as two writes, its 24-byte header and then
// its page, and a commit of a few mails writes dozens of frames: under
// full intake those writes were a sixth of the service's CPU, most of it
// the cost of the calls themselves. The frames of a commit are written one
// after the other, so they are gathered here and written when SQLite next
// does anything else with the file: sync it (every commit does, under
// synchronous=FULL, before any other connection can see the frames), read
// it, truncate it, ask its size or close it, or write elsewhere in it. The
// file holds the same bytes, written in the same order, and everything
// SQLite reads from it or syncs has reached the file first.
//
// That holds only with synchronous=FULL: with NORMAL, a commit publishes
// its frames to other connections without syncing, and they would read
// frames still gathered here. sqliteDSN opens only writable connections
// with this VFS, and sets FULL on each.
const walVFSName = "qoo10hook-wal"

// walGatherBytes bounds what a WAL file gathers before writing it: 31
// frames of 4 KiB pages. The unix VFS writes at most 128 KiB - 1 bytes in
// one call (it masks the length with 0x1ffff, the largest write SQLite
// itself asks for being a 64 KiB page and its header).
const walGatherBytes = 31 * (24 + 4096)

var (
	walVFSOnce sync.Once
	walVFSOK   bool

	// unixVFSAddr is the address of the unix VFS, unixOpen its xOpen.
	unixVFSAddr uintptr
	unixOpen    uintptr

	// The unix VFS gives every WAL file the same methods (the POSIX ones):
	// unixWALMethodsAddr is their address, unixWALMethods a copy to call
	// them by, walMethodsAddr the same methods with the ones below in
	// place. What SQLite holds the address of lives in memory allocated
	// by SQLite's C library, as SQLite's own objects do.
	walMethodsMu       sync.Mutex
	unixWALMethodsAddr uintptr
	unixWALMethods     sqlite3.Tsqlite3_io_methods
	walMethodsAddr     uintptr

	// walFiles holds the gathered writes of each open WAL file, by the
	// address of its sqlite3_file.
	walFiles sync.Map

	// walWrites and walFlushes count the writes SQLite asked of WAL files
	// and the system calls that wrote them.
	walWrites, walFlushes atomic.Int64
)

// walFile is the frames a WAL file gathered: n bytes at buf (walGatherBytes
// allocated by the C library), to be written from off. A connection uses
// its WAL file from one goroutine at a time.
type walFile struct {
	buf uintptr
	n   int
	off int64
}

// walVFSParam returns the DSN parameter that opens a SQLite file with the
// gathering VFS, or "" where SQLite has no unix VFS to wrap.
func walVFSParam() string {
	walVFSOnce.Do(func() { walVFSOK = registerWALVFS() })
	if !walVFSOK {
		return ""
	}
	return "&vfs=" + walVFSName
}

func registerWALVFS() bool {
	tls := libc.NewTLS()
	defer tls.Close()
	name, err := libc.CString("unix")
	if err != nil {
		return false
	}
	defer libc.Xfree(tls, name)
	unixVFSAddr = sqlite3.Xsqlite3_vfs_find(tls, name)
	if unixVFSAddr == 0 {
		return false
	}
	// The VFS and its name stay allocated: SQLite keeps a VFS registered
	// for the life of the process.
	addr := libc.Xmalloc(tls, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
	if addr == 0 {
		return false
	}
	vfs := (*sqlite3.Tsqlite3_vfs)(cPointer(addr))
	*vfs = *(*sqlite3.Tsqlite3_vfs)(cPointer(unixVFSAddr))
	unixOpen = vfs.FxOpen
	vfs.FpNext = 0
	if vfs.FzName, err = libc.CString(walVFSName); err != nil {
		return false
	}
	vfs.FxOpen = funcAddr(walOpen)
	return sqlite3.Xsqlite3_vfs_register(tls, addr, 0) == sqlite3.SQLITE_OK
}

// cPointer returns addr, an address in memory that SQLite or its C
// library allocated, as a pointer.
func cPointer(addr uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}

// funcAddr returns what SQLite's transpiled code holds as a pointer to
// the function f (as modernc's own function pointers are made).
func funcAddr(f any) uintptr {
	type iface [2]uintptr
	return (*iface)(unsafe.Pointer(&f))[1]
}

// walOpen opens a file as the unix VFS does, and gives a WAL file the
// gathering methods.
func walOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	rc := (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&unixOpen)))(tls, unixVFSAddr, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	file := (*sqlite3.Tsqlite3_file)(cPointer(pFile))
	if file.FpMethods == 0 || !adoptWALMethods(file.FpMethods) {
		return rc // not the methods we wrap: the file is written as it comes
	}
	buf := libc.Xmalloc(tls, walGatherBytes)
	if buf == 0 {
		return rc // written as it comes
	}
	walFiles.Store(pFile, &walFile{buf: buf})
	file.FpMethods = walMethodsAddr
	return rc
}

// adoptWALMethods reports whether a WAL file opened with the methods at
// addr gets the gathering ones; the first WAL file opened decides.
func adoptWALMethods(addr uintptr) bool {
	walMethodsMu.Lock()
	defer walMethodsMu.Unlock()
	if unixWALMethodsAddr == 0 {
		tls := libc.NewTLS()
		defer tls.Close()
		wrapped := libc.Xmalloc(tls, libc.Tsize_t(unsafe.Sizeof(unixWALMethods)))
		if wrapped == 0 {
			return false
		}
		unixWALMethods = *(*sqlite3.Tsqlite3_io_methods)(cPointer(addr))
		m := (*sqlite3.Tsqlite3_io_methods)(cPointer(wrapped))
		*m = unixWALMethods
		m.FxClose = funcAddr(walClose)
		m.FxRead = funcAddr(walRead)
		m.FxWrite = funcAddr(walWrite)
		m.FxTruncate = funcAddr(walTruncate)
		m.FxSync = funcAddr(walSync)
		m.FxFileSize = funcAddr(walFileSize)
		m.FxFileControl = funcAddr(walFileControl)
		if m.FiVersion >= 3 {
			m.FxFetch = funcAddr(walFetch)
		}
		unixWALMethodsAddr, walMethodsAddr = addr, wrapped
	}
	return addr == unixWALMethodsAddr
}

func walFileAt(pFile uintptr) *walFile {
	f, _ := walFiles.Load(pFile)
	return f.(*walFile)
}

// flush writes what f gathered.
func (f *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if f.n == 0 {
		return sqlite3.SQLITE_OK
	}
	walFlushes.Add(1)
	rc := unixWrite(tls, pFile, f.buf, int32(f.n), f.off)
	// Written or not, the bytes are not kept: a failed write fails the
	// commit, which rolls back, and the frames are written again.
	f.n = 0
	return rc
}

// unixWrite writes as the unix VFS does.
func unixWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&unixWALMethods.FxWrite)))(tls, pFile, zBuf, iAmt, iOfst)
}

// walWrite gathers a write that continues what the file gathered, and
// writes what it gathered first when this one does not continue it or
// does not fit.
func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	walWrites.Add(1)
	f := walFileAt(pFile)
	if f.n == 0 || iOfst != f.off+int64(f.n) || f.n+int(iAmt) > walGatherBytes {
		if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
		if int(iAmt) > walGatherBytes {
			walFlushes.Add(1)
			return unixWrite(tls, pFile, zBuf, iAmt, iOfst)
		}
		f.off = iOfst
	}
	copy(unsafe.Slice((*byte)(cPointer(f.buf+uintptr(f.n))), iAmt), unsafe.Slice((*byte)(cPointer(zBuf)), iAmt))
	f.n += int(iAmt)
	return sqlite3.SQLITE_OK
}

// The other methods write what the file gathered, then do as the unix
// VFS does.

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	f := walFileAt(pFile)
	rc := f.flush(tls, pFile)
	walFiles.Delete(pFile)
	libc.Xfree(tls, f.buf)
	if closed := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&unixWALMethods.FxClose)))(tls, pFile); rc == sqlite3.SQLITE_OK {
		rc = closed
	}
	return rc
}

func walRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if rc := walFileAt(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&unixWALMethods.FxRead)))(tls, pFile, zBuf, iAmt, iOfst)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	if rc := walFileAt(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&unixWALMethods.FxTruncate)))(tls, pFile, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	if rc := walFileAt(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&unixWALMethods.FxSync)))(tls, pFile, flags)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	if rc := walFileAt(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&unixWALMethods.FxFileSize)))(tls, pFile, pSize)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	if rc := walFileAt(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&unixWALMethods.FxFileControl)))(tls, pFile, op, pArg)
}

func walFetch(tls *libc.TLS, pFile uintptr, iOfst int64, iAmt int32, pp uintptr) int32 {
	if rc := walFileAt(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64, int32, uintptr) int32)(unsafe.Pointer(&unixWALMethods.FxFetch)))(tls, pFile, iOfst, iAmt, pp)
}
