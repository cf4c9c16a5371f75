// Flamenco's addition to modernc.org/sqlite, the SQLite driver FerretDB uses
// (copied into the driver's package by flamenco/farm/services.py before
// building).
//
// The driver prepares every statement from its SQL text each time it runs
// and finalizes it afterwards; database/sql's prepared statements do not
// help, because the driver's statement keeps only the text. SQLite's parser
// was 12-18 % of FerretDB's CPU (pprof, 2026-12-03): an update of 1,000
// tasks by _id prepares a SELECT and an UPDATE per task, a journal flush an
// INSERT per document. Here a connection keeps its prepared statements by
// SQL text and resets them instead of finalizing, so the next run of the
// same text skips the parser.
//
// Only single-statement texts are kept. A statement taken from the cache is
// owned by its run until released, so two runs of one text on a connection
// (a query still open in a transaction) never share one. A statement whose
// last step failed is finalized, not kept: reset reports the error as
// finalize did. SQLite re-prepares a kept statement by itself when the
// schema changed (sqlite3_prepare_v2), and a reset statement holds no lock,
// so DROP TABLE is not blocked by it. The cache is bounded per connection.

package sqlite

import (
	"unsafe"

	sqlite3 "modernc.org/sqlite/lib"
)

// stmtCacheMax bounds the idle prepared statements one connection keeps.
const stmtCacheMax = 128

// stmtCache is one connection's prepared statements (a connection is used by one goroutine at a time).
type stmtCache struct {
	idle  map[string]uintptr // SQL text -> reset statement ready to run
	owned map[uintptr]string // statements out of the cache (or cacheable), by the text they run
}

// flamencoPrepare prepares the next statement of s at *zSQL, taking it from the cache when it can.
func (c *conn) flamencoPrepare(s *stmt, zSQL *uintptr) (uintptr, error) {
	cache := &c.flamencoStmts
	whole := *zSQL == s.psql // the text's first statement
	if whole {
		if pstmt, ok := cache.idle[s.sql]; ok {
			delete(cache.idle, s.sql)
			cache.owned[pstmt] = s.sql
			*zSQL = s.psql + uintptr(len(s.sql)) // a cached text is one statement: nothing follows
			return pstmt, nil
		}
	}

	pstmt, err := c.prepareV2(zSQL)
	if err != nil || pstmt == 0 || !whole || !onlySpace(*zSQL) {
		return pstmt, err
	}

	if cache.owned == nil {
		cache.owned = make(map[uintptr]string)
		cache.idle = make(map[string]uintptr)
	}
	cache.owned[pstmt] = s.sql
	*zSQL = s.psql + uintptr(len(s.sql))

	return pstmt, nil
}

// onlySpace reports whether the C string at p holds nothing but white space and semicolons.
func onlySpace(p uintptr) bool {
	for ; ; p++ {
		switch *(*byte)(unsafe.Pointer(p)) {
		case 0:
			return true
		case ' ', '\t', '\n', '\r', ';':
		default:
			return false
		}
	}
}

// flamencoRelease ends a run of pstmt: back into the cache if it came from
// there and ran without error, else finalized. The error is the one
// finalize would have returned.
func (c *conn) flamencoRelease(pstmt uintptr) error {
	cache := &c.flamencoStmts
	text, ok := cache.owned[pstmt]
	if !ok {
		return c.finalize(pstmt)
	}
	delete(cache.owned, pstmt)

	if rc := sqlite3.Xsqlite3_reset(c.tls, pstmt); rc != sqlite3.SQLITE_OK {
		err := c.errstr(rc)
		sqlite3.Xsqlite3_finalize(c.tls, pstmt)
		return err
	}
	sqlite3.Xsqlite3_clear_bindings(c.tls, pstmt)

	if _, dup := cache.idle[text]; dup {
		return c.finalize(pstmt)
	}
	if len(cache.idle) >= stmtCacheMax {
		cache.finalizeIdle(c)
	}
	cache.idle[text] = pstmt

	return nil
}

// finalizeIdle finalizes every idle statement (when full, and before the connection closes).
func (sc *stmtCache) finalizeIdle(c *conn) {
	for text, pstmt := range sc.idle {
		sqlite3.Xsqlite3_finalize(c.tls, pstmt)
		delete(sc.idle, text)
	}
}
