package npmstandin

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// readBody decodes a JSON body and validates it against sch. Like NPM's
// express.json, a body without a JSON content type is read as {}.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, sch *jsonschema.Schema) (map[string]any, bool) {
	var doc any = map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var err error
		doc, err = jsonschema.UnmarshalJSON(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, "Unexpected token in JSON")
			return nil, false
		}
	}
	coerce(doc)
	if msg := Message(sch, doc); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return nil, false
	}
	return doc.(map[string]any), true
}

// coerce converts numeric strings where the schema wants an integer, as NPM's
// validator (ajv with coerceTypes) does: "forward_port": "80" is accepted.
func coerce(doc any) {
	m, ok := doc.(map[string]any)
	if !ok {
		return
	}
	for _, k := range []string{"forward_port", "access_list_id"} {
		if str, ok := m[k].(string); ok {
			if _, err := strconv.Atoi(str); err == nil {
				m[k] = json.Number(str)
			}
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	errMsg string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers in NPM's error shape (components/error.json).
func writeError(w http.ResponseWriter, status int, msg string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.errMsg = msg
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg}})
}

func notFound(w http.ResponseWriter, path string) {
	writeError(w, http.StatusNotFound, "Not Found - "+strings.TrimPrefix(path, "/api"))
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func intField(row map[string]any, k string) int {
	i, _ := row[k].(int)
	return i
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// domainNames is a validated body's domain_names as NPM stores them, for a
// proxy host and a certificate alike: sorted (its models sort them on
// insert and update).
func domainNames(list []any) []string {
	ds := make([]string, len(list))
	for i, d := range list {
		ds[i] = d.(string)
	}
	slices.Sort(ds)
	return ds
}
