// Flamenco patch (added to internal/handler/sjson): decode the common scalar
// values of a stored document directly, and parse each distinct schema once.
//
// FerretDB decodes every scalar field of every document it reads with a new
// streaming JSON decoder over a new reader, then checks that both are
// drained. Decoding was the largest part of a find (42 % of FerretDB's CPU
// for 10,000 documents, pprof 2026-12-03), and most of it was setting up
// those decoders for short strings, ObjectIDs, integers and dates. The values
// were written by FerretDB's own encoder, so their JSON forms are simple: a
// string without escapes is its bytes between the quotes, an ObjectID is 24
// hex digits in quotes, integers and dates are plain decimal numbers.
// Anything else (escapes, doubles, documents, arrays, odd forms) takes
// FerretDB's own path, which also reports malformed data as before.

package sjson

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// flamencoFastScalar returns the value of data for the schema type t, and
// whether it could decode it directly.
func flamencoFastScalar(data []byte, t elemType) (any, bool) {
	switch t {
	case elemTypeString:
		if len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' && bytes.IndexByte(data, '\\') < 0 {
			return string(data[1 : len(data)-1]), true
		}
	case elemTypeObjectID:
		if len(data) == 2+2*types.ObjectIDLen && data[0] == '"' && data[len(data)-1] == '"' {
			var id types.ObjectID
			if _, err := hex.Decode(id[:], data[1:len(data)-1]); err == nil {
				return id, true
			}
		}
	case elemTypeInt:
		if n, err := strconv.ParseInt(string(data), 10, 32); err == nil {
			return int32(n), true
		}
	case elemTypeLong:
		if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
			return n, true
		}
	case elemTypeDate:
		if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
			return time.UnixMilli(n), true
		}
	case elemTypeBool:
		switch string(data) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}

	return nil, false
}

// flamencoSchemaCacheSize bounds the parsed schemas kept; the cache is
// emptied when full. Documents of one collection mostly share a few schemas.
const flamencoSchemaCacheSize = 4096

// flamencoSchemas maps a stored schema's JSON text to its parsed form.
var flamencoSchemas struct {
	sync.Mutex
	m map[string]*schema
}

// flamencoSchema parses the schema part ($s) of a stored document, once per
// distinct schema text: parsing it was 15 % of FerretDB's CPU in a find of
// 10,000 documents (pprof, 2026-12-03), although all of them had the same.
// Parsed schemas are only read afterwards, so they can be shared.
func flamencoSchema(raw []byte) (*schema, error) {
	flamencoSchemas.Lock()
	cached := flamencoSchemas.m[string(raw)]
	flamencoSchemas.Unlock()

	if cached != nil {
		return cached, nil
	}

	var sch schema

	r := bytes.NewReader(raw)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()

	if err := dec.Decode(&sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}

	flamencoSchemas.Lock()
	if flamencoSchemas.m == nil || len(flamencoSchemas.m) >= flamencoSchemaCacheSize {
		flamencoSchemas.m = make(map[string]*schema, flamencoSchemaCacheSize)
	}
	flamencoSchemas.m[string(raw)] = &sch
	flamencoSchemas.Unlock()

	return &sch, nil
}

// UnmarshalFields decodes like Unmarshal, but only the top-level fields
// named in fields (and _id); nil fields decodes every field.
//
// A find with a plain inclusion projection needs a handful of fields of each
// document: the job list's index reads 10 fields of 10,000 job documents,
// whose settings and descriptions were decoded only to be dropped by the
// projection. Skipped fields are still checked against the schema's keys.
func UnmarshalFields(data []byte, fields map[string]struct{}) (*types.Document, error) {
	if fields == nil {
		return Unmarshal(data)
	}

	var v map[string]json.RawMessage
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, lazyerrors.Error(err)
	}

	jsch, ok := v["$s"]
	if !ok {
		return nil, lazyerrors.Errorf("schema is not set")
	}

	sch, err := flamencoSchema(jsch)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	if len(sch.Keys) != len(v)-1 {
		return nil, lazyerrors.Errorf(
			"sjson.UnmarshalFields: the data must have the same number of schema keys and document fields (keys: %d, fields: %d)",
			len(sch.Keys), len(v)-1,
		)
	}

	d, err := types.NewDocument()
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	for _, key := range sch.Keys {
		b, ok := v[key]
		if !ok {
			return nil, lazyerrors.Errorf("sjson.UnmarshalFields: missing key %q", key)
		}

		if _, wanted := fields[key]; !wanted && key != "_id" {
			continue
		}

		value, err := unmarshalSingleValue(b, sch.Properties[key])
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		d.Set(key, value)
	}

	return d, nil
}
