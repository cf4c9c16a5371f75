// Flamenco's addition to FerretDB's SQLite backend (copied into
// internal/backends/sqlite by flamenco/farm/services.py before building).
//
// Upstream FerretDB v1.24 pushes a filter down to SQLite only when it is a
// single `_id` equality; any other query decodes every document of the
// collection in Go. With 100,000 tasks, "the tasks of this job" took tens of
// seconds although an index on `job` exists. This pushes down, in addition,
// top-level equality and `$in` on ObjectIDs, which is what Flamenco's hot
// queries use (job, project, manager).
//
// The pushed-down clause only has to select a superset of the matching
// documents: FerretDB still applies the whole filter in Go afterwards. A
// MongoDB equality also matches arrays containing the value, so every
// condition also admits documents whose field is an array (JSON text starting
// with '['); that range is answered from the same index.

package sqlite

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// maxPushdownArgs bounds the SQL parameters of one pushed-down clause, well
// below SQLite's limit of 32,766; a key whose `$in` would pass it is not
// pushed down (the query is still answered, from a wider selection).
const maxPushdownArgs = 10000

// pushdownField matches the field names whose SQLite JSON path needs no quoting.
var pushdownField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// prepareWhereClause returns the WHERE clause and its arguments for filter,
// or an empty clause when nothing in it can be pushed down.
func prepareWhereClause(filter *types.Document) (string, []any) {
	if filter.Len() == 1 {
		v, _ := filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn), []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	if filter.Len() == 0 {
		return "", nil
	}

	if _, dup := filter.FindDuplicateKey(); dup {
		return "", nil
	}

	var conds []string
	var args []any

	keys, values := filter.Keys(), filter.Values()
	for i, key := range keys {
		if !pushdownField.MatchString(key) {
			continue
		}

		ids := objectIDs(values[i])
		if len(ids) == 0 || len(args)+len(ids) > maxPushdownArgs {
			continue
		}

		column := metadata.IDColumn
		if key != "_id" {
			column = fmt.Sprintf("%s->'%s'", metadata.DefaultColumn, key)
		}

		placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		conds = append(conds, fmt.Sprintf(`(%[1]s IN (%[2]s) OR (%[1]s >= '[' AND %[1]s < '\'))`, column, placeholders))

		for _, id := range ids {
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(id))))
		}
	}

	if len(conds) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conds, " AND "), args
}

// objectIDs returns the ObjectIDs a filter value compares a field with:
// the value itself, or the elements of a `{$in: [...]}` made of ObjectIDs
// only. It returns nil for any other value.
func objectIDs(v any) []types.ObjectID {
	switch v := v.(type) {
	case types.ObjectID:
		return []types.ObjectID{v}
	case *types.Document:
		if v.Len() != 1 {
			return nil
		}

		in, err := v.Get("$in")
		if err != nil {
			return nil
		}

		arr, ok := in.(*types.Array)
		if !ok || arr.Len() == 0 {
			return nil
		}

		ids := make([]types.ObjectID, 0, arr.Len())
		for i := 0; i < arr.Len(); i++ {
			id, ok := must.NotFail(arr.Get(i)).(types.ObjectID)
			if !ok {
				return nil
			}

			ids = append(ids, id)
		}

		return ids
	}

	return nil
}
