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
//
// Equality and `$in` on plain strings (statuses, task types) are pushed down
// the same way. Without an index SQLite still reads every row, but it tests
// the field in C on the stored JSON text instead of FerretDB decoding every
// document in Go first: "the queued tasks of this job" decoded the whole job.
// Only strings whose JSON text has no escapes (pushdownString) are pushed
// down, so the argument is exactly the text the encoder stored.
//
// Ranges of dates (`$gt`, `$gte`, `$lt`, `$lte` on a time, as in "tasks
// changed since") are pushed down too: dates are stored as milliseconds since
// the epoch, compared here as numbers with `->>`. Values of other types
// compare as SQLite orders types (numbers below text), so the selection can
// only be wider than MongoDB's answer, never narrower; arrays are admitted.
// The `->>` form cannot use an index (indexes are on `->`, the JSON text), so
// a lower bound on a write time (`_updated`, `_created`) is also pushed down
// as a range of that text, which an index on the field answers; see
// writeTimeLowerBound for why that is exact.

package sqlite

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

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

// pushdownString matches the string values whose JSON text is the string in quotes, with no escapes.
var pushdownString = regexp.MustCompile(`^[A-Za-z0-9 _.:@+-]{0,256}$`)

// prepareWhereClause returns the WHERE clause and its arguments for filter,
// or an empty clause when nothing in it can be pushed down.
//
// A filter with an `_id` equality selects at most that one document, whatever
// else it asks ({_id: X, status: "queued"}: each statement of a task-update
// batch): only the `_id` is pushed down, a point lookup in the `_id` index.
// Testing the other keys in SQL too would parse the row's JSON text, which
// FerretDB decodes in Go anyway to apply the whole filter. The same holds for
// an `_id` `$in` ({_id: {$in: ids}, job: J, status: "queued"}: the depsgraph's
// claim): pushing the other keys down too let SQLite, which keeps no
// statistics here, pick the `job` index and parse every task of the job
// (10,000) to update the 1,000 listed.
//
// Equalities on the leading fields of a compound index are pushed down in a
// shape that index answers (compoundCondition): "the queued tasks of this
// job" then reads the job's queued tasks, not every task of the job.
func prepareWhereClause(filter *types.Document, indexes []metadata.IndexInfo) (string, []any) {
	if filter.Len() == 0 {
		return "", nil
	}

	if _, dup := filter.FindDuplicateKey(); dup {
		return "", nil
	}

	if v, err := filter.Get("_id"); err == nil {
		switch v.(type) {
		case string, types.ObjectID:
			return fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn), []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}

		// An `_id` is never an array, so no array range is needed.
		if ids := pushdownValues(v); len(ids) > 0 && len(ids) <= maxPushdownArgs {
			cond, args := inCondition(metadata.IDColumn, ids)

			return " WHERE " + cond, args
		}
	}

	var conds []string
	var args []any

	keys, values := filter.Keys(), filter.Values()

	compound := compoundPrefix(indexes, keys, values)
	if len(compound) > 0 {
		cond, condArgs := compoundCondition(compound, filter)
		conds = append(conds, cond)
		args = append(args, condArgs...)
	}

	for i, key := range keys {
		if !pushdownField.MatchString(key) || slices.Contains(compound, key) {
			continue
		}

		column := metadata.IDColumn
		if key != "_id" {
			column = fieldColumn(key)
		}

		if bounds, boundArgs := dateRange(values[i], fmt.Sprintf("%s->>'%s'", metadata.DefaultColumn, key)); bounds != "" {
			if key == "_id" {
				continue
			}

			if indexed, indexedArgs := writeTimeLowerBound(key, values[i], column); indexed != "" {
				conds = append(conds, indexed)
				args = append(args, indexedArgs...)
			}

			conds = append(conds, fmt.Sprintf(`((%s) OR %s)`, bounds, arrayRange(column)))
			args = append(args, boundArgs...)

			continue
		}

		vals := pushdownValues(values[i])
		if len(vals) == 0 || len(args)+len(vals) > maxPushdownArgs {
			continue
		}

		in, inArgs := inCondition(column, vals)
		conds = append(conds, fmt.Sprintf(`(%s OR %s)`, in, arrayRange(column)))
		args = append(args, inArgs...)
	}

	if len(conds) == 0 {
		return "", nil
	}

	return " WHERE " + strings.Join(conds, " AND "), args
}

// pushdownValues returns the values a filter value compares a field with:
// the value itself, or the elements of a `{$in: [...]}`, when each is an
// ObjectID or a string matched by pushdownString. It returns nil otherwise.
func pushdownValues(v any) []any {
	if pushable(v) {
		return []any{v}
	}

	doc, ok := v.(*types.Document)
	if !ok || doc.Len() != 1 {
		return nil
	}

	in, err := doc.Get("$in")
	if err != nil {
		return nil
	}

	arr, ok := in.(*types.Array)
	if !ok || arr.Len() == 0 {
		return nil
	}

	values := make([]any, 0, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		value := must.NotFail(arr.Get(i))
		if !pushable(value) {
			return nil
		}

		values = append(values, value)
	}

	return values
}

// pushable reports whether a value's stored JSON text is known exactly.
func pushable(v any) bool {
	switch v := v.(type) {
	case types.ObjectID:
		return true
	case string:
		return pushdownString.MatchString(v)
	default:
		return false
	}
}

// dateOperators maps the range operators pushed down to their SQL comparison.
var dateOperators = map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// dateRange returns the SQL conditions (joined with AND) and arguments for a
// filter value made only of range operators on dates, or "" for any other value.
func dateRange(v any, numeric string) (string, []any) {
	doc, ok := v.(*types.Document)
	if !ok || doc.Len() == 0 {
		return "", nil
	}

	var conds []string
	var args []any

	for _, op := range doc.Keys() {
		sqlOp, known := dateOperators[op]
		if !known {
			return "", nil
		}

		moment, isTime := must.NotFail(doc.Get(op)).(time.Time)
		if !isTime {
			return "", nil
		}

		conds = append(conds, fmt.Sprintf("%s %s ?", numeric, sqlOp))
		args = append(args, moment.UnixMilli())
	}

	return strings.Join(conds, " AND "), args
}

// compoundPrefix returns the leading fields of the compound index that the
// most of them match with an equality or `$in` pushed down (pushdownValues),
// if that is two fields or more; nil otherwise.
func compoundPrefix(indexes []metadata.IndexInfo, keys []string, values []any) []string {
	pushed := make(map[string]int, len(keys))

	for i, key := range keys {
		if key != "_id" && pushdownField.MatchString(key) {
			if n := len(pushdownValues(values[i])); n > 0 {
				pushed[key] = n
			}
		}
	}

	var best []string

	for _, index := range indexes {
		var prefix []string
		args := 0

		for _, pair := range index.Key {
			n, ok := pushed[pair.Field]
			if !ok {
				break
			}

			// A field's values appear in at most every branch of compoundCondition: one more than its fields.
			args += n * (len(index.Key) + 1)
			if args > maxPushdownArgs {
				break
			}

			prefix = append(prefix, pair.Field)
		}

		if len(prefix) >= 2 && len(prefix) > len(best) {
			best = prefix
		}
	}

	return best
}

// compoundCondition returns the condition on fields (an index's leading
// fields, each with an equality or `$in` in filter) that the index answers.
//
// Per field, a match is a listed value or an array (MongoDB matches arrays
// containing the value); ANDing "(f = v OR f is an array)" per field keeps
// SQLite from using more than the index's first column. This is the same
// selection or a wider one, as one OR of ranges of the index: all fields
// equal; or the first j-1 fields equal and field j an array, for each j (a
// document whose first array field is j is in branch j). The extra documents
// (arrays) are rejected in Go, as everything pushed down is.
func compoundCondition(fields []string, filter *types.Document) (string, []any) {
	ins := make([]string, len(fields))
	inArgs := make([][]any, len(fields))

	for j, field := range fields {
		ins[j], inArgs[j] = inCondition(fieldColumn(field), pushdownValues(must.NotFail(filter.Get(field))))
	}

	var branches []string
	var args []any

	// The first j fields equal, then (if j < len(fields)) field j an array.
	for j := len(fields); j >= 0; j-- {
		conds := slices.Clone(ins[:j])
		for _, a := range inArgs[:j] {
			args = append(args, a...)
		}

		if j < len(fields) {
			conds = append(conds, arrayRange(fieldColumn(fields[j])))
		}

		branches = append(branches, "("+strings.Join(conds, " AND ")+")")
	}

	return "(" + strings.Join(branches, " OR ") + ")", args
}

// inCondition returns "column IN (?, ...)" and its arguments: the stored JSON text of each value.
func inCondition(column string, vals []any) (string, []any) {
	args := make([]any, len(vals))
	for i, val := range vals {
		args[i] = string(must.NotFail(sjson.MarshalSingleValue(val)))
	}

	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")

	return fmt.Sprintf(`%s IN (%s)`, column, placeholders), args
}

// arrayRange returns the condition that column's JSON text is an array, as an index range.
func arrayRange(column string) string {
	return fmt.Sprintf(`(%[1]s >= '[' AND %[1]s < '\')`, column)
}

// fieldColumn is the SQL expression of a top-level field's JSON text, as indexes hold it.
func fieldColumn(field string) string {
	return fmt.Sprintf("%s->'%s'", metadata.DefaultColumn, field)
}

// writeTimeFields are the fields that hold the time of a write: Eve and the
// Flamenco server set them from their clock, clients cannot.
var writeTimeFields = map[string]bool{"_updated": true, "_created": true}

// Thirteen-digit millisecond counts: from 2001-09-09 to 2286-11-20.
const (
	minThirteenDigits = 1_000_000_000_000
	maxThirteenDigits = 9_999_999_999_999
)

// writeTimeLowerBound returns a condition on the JSON text of a write-time
// field (column, `->`) for the `$gt`/`$gte` of a date range, or "" when there
// is none to add.
//
// An index on the field holds that text, and the text of a thirteen-digit
// number sorts as the number. Write times are thirteen-digit millisecond
// counts (from 2001 to 2286) wherever a server clock is right, so the range
// leaves out no date that MongoDB would match; values of other types are
// either left out as MongoDB leaves them out, or admitted and rejected in Go.
// Arrays are admitted by a second range of the same index.
//
// SQLite keeps no statistics of FerretDB's tables, so on its own it prefers
// any equality (`manager = ?`, true of every task of a farm) to a range.
// likelihood() tells it that few documents changed since a recent time,
// which is what an incremental query asks; without an index on the field the
// hint changes nothing.
func writeTimeLowerBound(key string, v any, column string) (string, []any) {
	doc, ok := v.(*types.Document)
	if !ok || !writeTimeFields[key] {
		return "", nil
	}

	for _, op := range []string{"$gt", "$gte"} {
		bound, err := doc.Get(op)
		if err != nil {
			continue
		}

		moment, isTime := bound.(time.Time)
		if !isTime || moment.UnixMilli() < minThirteenDigits || moment.UnixMilli() > maxThirteenDigits {
			return "", nil
		}

		sqlOp := dateOperators[op]
		cond := fmt.Sprintf(`((likelihood(%[1]s %[2]s ?, 0.001) AND %[1]s < ':') `+
			`OR (likelihood(%[1]s >= '[', 0.001) AND %[1]s < '\'))`, column, sqlOp)

		return cond, []any{fmt.Sprintf("%d", moment.UnixMilli())}
	}

	return "", nil
}

// flamencoOnlyFields makes a query iterator decode only the given top-level
// fields (nil: all); see sjson.UnmarshalFields.
func flamencoOnlyFields(iter types.DocumentsIterator, fields map[string]struct{}) types.DocumentsIterator {
	if q, ok := iter.(*queryIterator); ok {
		q.onlyFields = fields
	}

	return iter
}
