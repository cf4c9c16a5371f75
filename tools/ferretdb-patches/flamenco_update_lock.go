// Flamenco's addition to FerretDB's handler (copied into internal/handler by
// flamenco/farm/services.py before building).
//
// Upstream FerretDB v1.24 applies `update` and `findAndModify` as "query the
// matching documents, modify them in Go, write each one back by _id", with no
// lock and no compare-and-set (reference ferretdb-eve.md §3, §5). Two
// concurrent updates of one document therefore lose one of them: measured,
// four clients doing 200 `$inc` each on one document ended at 487 instead of
// 800, and a conditional update ({_id, status: "queued"} -> claimed) could be
// applied by two clients that both read "queued". MongoDB applies each
// statement atomically per document; Flamenco relies on that for its
// per-job task counters (`$inc` on the job document, flamenco/task_counts.py)
// and for its status-conditional writes.
//
// This serialises update statements (and findAndModify) per collection, from
// the query to the last write, so each statement reads what the previous one
// wrote. Reads, inserts and deletes are not serialised: an insert cannot race
// an update of the same document, and a delete racing an update leaves the
// document deleted (the update's write by _id then matches nothing). SQLite
// has a single writer anyway, so this costs little throughput; it only stops
// the read phase of one statement from overlapping another's write phase.

package handler

import "sync"

// updateLocks maps "<database>\x00<collection>" to the *sync.Mutex of that collection.
var updateLocks sync.Map

// lockCollectionForUpdate takes the update lock of one collection and returns its unlock function.
func lockCollectionForUpdate(db, collection string) func() {
	m, _ := updateLocks.LoadOrStore(db+"\x00"+collection, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()

	return mu.Unlock
}
