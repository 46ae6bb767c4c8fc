package npmstandin

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaFiles are NPM's own OpenAPI schema files, copied unchanged (see
// testdata/npm-api-schema/NOTICE.md), so the stand-in refuses exactly the
// bodies the real server refuses.
//
//go:embed testdata/npm-api-schema
var schemaFiles embed.FS

const (
	schemaDir = "testdata/npm-api-schema"
	// schemaBase is the made-up absolute URL the files are registered under,
	// so their relative $refs resolve among themselves and never touch the
	// network or the working directory.
	schemaBase = "https://npm-api-schema.invalid/"
	// bodyPointer is where an OpenAPI operation keeps its JSON request body.
	bodyPointer = "#/requestBody/content/application~1json/schema"
)

// Schemas holds the compiled request-body and response schemas the stand-in
// and its tests check against.
type Schemas struct {
	TokenRequest  *jsonschema.Schema // POST /api/tokens body
	TokenResponse *jsonschema.Schema // token-object.json
	HostCreate    *jsonschema.Schema // POST /api/nginx/proxy-hosts body
	HostUpdate    *jsonschema.Schema // PUT /api/nginx/proxy-hosts/{id} body
	HostObject    *jsonschema.Schema // proxy-host-object.json
	HostList      *jsonschema.Schema // proxy-host-list.json
	ErrorResponse *jsonschema.Schema // error.json
	ErrorObject   *jsonschema.Schema // error-object.json
	// CertificateCreate is the POST /api/nginx/certificates body;
	// CertificateFiles the files of an upload (multipart, not JSON).
	CertificateCreate *jsonschema.Schema
	CertificateFiles  *jsonschema.Schema
	tokenChallenge    *jsonschema.Schema
}

// LoadSchemas compiles the embedded NPM schema files.
func LoadSchemas() (*Schemas, error) {
	c := jsonschema.NewCompiler()
	// OpenAPI 3.1 schemas are JSON Schema 2020-12.
	c.DefaultDraft(jsonschema.Draft2020)
	err := fs.WalkDir(schemaFiles, schemaDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		f, err := schemaFiles.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return fmt.Errorf("parse schema file %s: %w", p, err)
		}
		return c.AddResource(schemaBase+strings.TrimPrefix(p, schemaDir+"/"), doc)
	})
	if err != nil {
		return nil, fmt.Errorf("load NPM schema files: %w", err)
	}
	var s Schemas
	for _, x := range []struct {
		dst *(*jsonschema.Schema)
		loc string
	}{
		{&s.TokenRequest, "paths/tokens/post.json" + bodyPointer},
		{&s.TokenResponse, "components/token-object.json"},
		{&s.tokenChallenge, "components/token-challenge.json"},
		{&s.HostCreate, "paths/nginx/proxy-hosts/post.json" + bodyPointer},
		{&s.HostUpdate, "paths/nginx/proxy-hosts/hostID/put.json" + bodyPointer},
		{&s.HostObject, "components/proxy-host-object.json"},
		{&s.HostList, "components/proxy-host-list.json"},
		{&s.ErrorResponse, "components/error.json"},
		{&s.ErrorObject, "components/error-object.json"},
		{&s.CertificateCreate, "paths/nginx/certificates/post.json" + bodyPointer},
		{&s.CertificateFiles, "common.json#/properties/certificate_files/content/multipart~1form-data/schema"},
	} {
		sch, err := c.Compile(schemaBase + x.loc)
		if err != nil {
			return nil, fmt.Errorf("compile NPM schema %s: %w", x.loc, err)
		}
		*x.dst = sch
	}
	return &s, nil
}

// Message validates doc against sch and returns "" when it is valid, else
// the message NPM answers with: its validator (ajv) reports the first error as
// "data<instance path> <reason>", e.g. "data/forward_port must be >= 1".
func Message(sch *jsonschema.Schema, doc any) string {
	err := sch.Validate(doc)
	if err == nil {
		return ""
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	leaf := firstLeaf(ve)
	loc := "data"
	for _, p := range leaf.InstanceLocation {
		loc += "/" + p
	}
	return loc + " " + ajvReason(leaf)
}

// firstLeaf walks down to the first concrete failure: the tree's inner nodes
// ($ref, the schema itself) only group their causes.
func firstLeaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	for len(e.Causes) > 0 {
		switch e.ErrorKind.(type) {
		case *kind.AnyOf, *kind.OneOf:
			// ajv names the combinator itself.
			return e
		}
		e = e.Causes[0]
	}
	return e
}

// ajvReason words a failure the way ajv does, which is what NPM's clients
// (and its error messages) show.
func ajvReason(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		return "must NOT have additional properties"
	case *kind.Required:
		return fmt.Sprintf("must have required property '%s'", k.Missing[0])
	case *kind.Minimum:
		return "must be >= " + k.Want.RatString()
	case *kind.Maximum:
		return "must be <= " + k.Want.RatString()
	case *kind.Enum, *kind.Const:
		return "must be equal to one of the allowed values"
	case *kind.MinProperties:
		return fmt.Sprintf("must NOT have fewer than %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("must NOT have more than %d properties", k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("must NOT have fewer than %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must NOT have more than %d items", k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("must NOT have fewer than %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must NOT have more than %d characters", k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("must match pattern \"%s\"", k.Want)
	case *kind.UniqueItems:
		return fmt.Sprintf("must NOT have duplicate items (items ## %d and %d are identical)", k.Duplicates[1], k.Duplicates[0])
	case *kind.Type:
		return "must be " + strings.Join(k.Want, ",")
	case *kind.AnyOf:
		return "must match a schema in anyOf"
	case *kind.OneOf:
		return "must match exactly one schema in oneOf"
	default:
		return e.Error()
	}
}
