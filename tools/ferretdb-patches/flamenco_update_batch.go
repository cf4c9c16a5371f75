// Flamenco's addition to FerretDB's handler (copied into internal/handler by
// flamenco/farm/services.py before building).
//
// Upstream FerretDB v1.24 writes every statement of an `update` command in a
// transaction of its own: a bulk write of 1,000 `UpdateOne` by _id (what the
// server does with a manager's task-update batch) paid 1,000 SQLite commits,
// each with its WAL frames and, every few hundred, a checkpoint with fsync;
// about 1.2 ms of CPU per statement. Here the statements of one command hand
// their modified documents to a writeBehind, which writes them in one
// transaction when the command ends (or every writeBehindLimit documents).
//
// The command holds its collection's update lock (flamenco_update_lock.go)
// from its first query to that write, so no other update reads a document
// that is modified but not yet written. Within the command, a statement whose
// query could see a held document (any filter other than `{_id: v}` with v
// not held) is preceded by a write of what is held: each statement still
// reads what the earlier ones wrote, as on MongoDB. The documents are written
// before the command answers, so an acknowledged write is in the database.

package handler

import (
	"context"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// writeBehindLimit bounds the documents held (memory, transaction size).
const writeBehindLimit = 1000

// writeBehind is the collection of one `update` command, holding the
// documents its statements modified until flush.
type writeBehind struct {
	backends.Collection

	docs []*types.Document
	ids  map[string]struct{}
}

func newWriteBehind() *writeBehind {
	return &writeBehind{ids: make(map[string]struct{})}
}

// idKey is the SQLite text of an _id value, the key the held documents are known by.
func idKey(id any) string {
	return string(must.NotFail(sjson.MarshalSingleValue(id)))
}

// UpdateAll holds the documents; they are written by flush.
func (w *writeBehind) UpdateAll(ctx context.Context, params *backends.UpdateAllParams) (*backends.UpdateAllResult, error) {
	for _, doc := range params.Docs {
		w.docs = append(w.docs, doc)
		w.ids[idKey(must.NotFail(doc.Get("_id")))] = struct{}{}
	}

	if len(w.docs) >= writeBehindLimit {
		if err := w.flush(ctx); err != nil {
			return nil, err
		}
	}

	return &backends.UpdateAllResult{Updated: int32(len(params.Docs))}, nil
}

// mustFlushBefore reports whether a statement with this filter could match a held document.
//
// A filter with a top-level `_id` equality can only match that document,
// whatever else it asks ({_id: X, status: "queued"}, as a Manager's
// task-update batch sends one per task): it waits only for that document.
func (w *writeBehind) mustFlushBefore(filter *types.Document) bool {
	if len(w.docs) == 0 {
		return false
	}

	if filter == nil {
		return true
	}

	id, err := filter.Get("_id")
	if err != nil {
		return true
	}

	switch id.(type) {
	case string, types.ObjectID:
		_, held := w.ids[idKey(id)]
		return held
	default:
		return true
	}
}

// flush writes the held documents in one transaction.
func (w *writeBehind) flush(ctx context.Context) error {
	if len(w.docs) == 0 {
		return nil
	}

	docs := w.docs
	w.docs = nil
	w.ids = make(map[string]struct{})

	if _, err := w.Collection.UpdateAll(ctx, &backends.UpdateAllParams{Docs: docs}); err != nil {
		return lazyerrors.Error(err)
	}

	return nil
}
