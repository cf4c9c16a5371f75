// Flamenco's addition to modernc.org/libc, the C library SQLite runs on in
// FerretDB's pure-Go build (copied into the module's root by
// flamenco/farm/services.py, which renames the generated functions these
// replace).
//
// The generated memcmp, memcpy, memmove and memset are musl's C turned into
// Go: byte or word loops. SQLite calls them for every record it copies or
// compares and for every JSON text its cache compares: together 12-17 % of
// FerretDB's CPU in Flamenco's benchmarks (pprof, 2026-12-04). Go's runtime
// has vectorised versions of the same operations (copy, bytes.Compare, the
// memclr a zeroing loop compiles to); these call them.
//
// The pointers are C memory: libc's own allocator, outside the Go heap, as in
// the generated code, which dereferences the same uintptrs.

//go:build linux && amd64

package libc

import (
	"bytes"
	"unsafe"
)

// cBytes is n bytes of C memory at p as a Go slice (no copy).
func cBytes(p uintptr, n Tsize_t) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
}

// Xmemcmp compares n bytes; C promises only the sign of the result.
func Xmemcmp(tls *TLS, vl uintptr, vr uintptr, n Tsize_t) int32 {
	if n == 0 {
		return 0
	}
	return int32(bytes.Compare(cBytes(vl, n), cBytes(vr, n)))
}

// Xmemcpy copies n bytes: Xmemmove's copy also handles overlap, which C leaves undefined here.
func Xmemcpy(tls *TLS, dest uintptr, src uintptr, n Tsize_t) uintptr {
	return Xmemmove(tls, dest, src, n)
}

// Xmemmove copies n bytes between possibly overlapping areas.
func Xmemmove(tls *TLS, dest uintptr, src uintptr, n Tsize_t) uintptr {
	if n != 0 {
		copy(cBytes(dest, n), cBytes(src, n))
	}
	return dest
}

// Xmemset fills n bytes with the byte c: one byte, then doubling copies
// (libc's go.mod says go1.20, so no clear; the compiler turns a zeroing loop
// into the runtime's memclr).
func Xmemset(tls *TLS, dest uintptr, c int32, n Tsize_t) uintptr {
	if n == 0 {
		return dest
	}
	area := cBytes(dest, n)
	if byte(c) == 0 {
		for i := range area {
			area[i] = 0
		}
		return dest
	}
	area[0] = byte(c)
	for filled := 1; filled < len(area); filled *= 2 {
		copy(area[filled:], area[:filled])
	}
	return dest
}
