package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api"
	"github.com/esign-webhooks/esign-webhooks/internal/config"
)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// bareServer builds the Echo server without a database or Temporal: enough
// to list routes and serve static documents.
func bareServer(t *testing.T) *echo.Echo {
	t.Helper()
	cfg, err := config.LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	return api.New(api.Deps{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

var echoParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// registeredOperations lists "method path" of every route, in OpenAPI form.
func registeredOperations(e *echo.Echo) []string {
	var ops []string
	for _, r := range e.Routes() {
		m := strings.ToLower(r.Method)
		if !slices.Contains(httpMethods, m) {
			continue // Echo-internal entries, if any
		}
		ops = append(ops, m+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(ops)
	return slices.Compact(ops)
}

func documentedOperations(doc map[string]any) []string {
	var ops []string
	paths, _ := doc["paths"].(map[string]any)
	for p, item := range paths {
		for m := range item.(map[string]any) {
			if slices.Contains(httpMethods, m) {
				ops = append(ops, m+" "+p)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	registered := registeredOperations(bareServer(t))
	if len(registered) < 20 {
		t.Fatalf("only %d routes registered: %v", len(registered), registered)
	}
	documented := documentedOperations(loadOpenAPI(t))
	for _, op := range registered {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s is not in api/openapi.json", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(registered, op) {
			t.Errorf("api/openapi.json documents %s, which is not a route", op)
		}
	}
}

// TestOpenAPIDocument checks what a schema validator would: version, unique
// operation ids, declared path parameters, resolvable $refs, error
// responses in the one error shape, and the bearer scheme.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", doc["openapi"])
	}
	if info, _ := doc["info"].(map[string]any); info["title"] == nil || info["version"] == nil {
		t.Error("info needs title and version")
	}
	comps, _ := doc["components"].(map[string]any)
	bearer, _ := comps["securitySchemes"].(map[string]any)["bearerAuth"].(map[string]any)
	if bearer["type"] != "http" || bearer["scheme"] != "bearer" {
		t.Errorf("bearerAuth scheme: %v", bearer)
	}
	if !reflectContains(doc["security"], "bearerAuth") {
		t.Error("bearerAuth is not the default security")
	}
	errSchema, _ := comps["schemas"].(map[string]any)["Error"].(map[string]any)
	errObj, _ := errSchema["properties"].(map[string]any)["error"].(map[string]any)
	props, _ := errObj["properties"].(map[string]any)
	for _, f := range []string{"code", "message", "fields"} {
		if props[f] == nil {
			t.Errorf("Error schema lacks error.%s", f)
		}
	}

	// Every $ref points at something that exists.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				if resolve(doc, r) == nil {
					t.Errorf("%s: $ref %s does not resolve", at, r)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for _, c := range x {
				walk(c, at)
			}
		}
	}
	walk(doc, "#")

	public := []string{"/healthz", "/readyz", "/v1/openapi.json", "/v1/event-types", "/v1/event-types/{type}"}
	ids := map[string]string{}
	for p, rawItem := range doc["paths"].(map[string]any) {
		item := rawItem.(map[string]any)
		templ := regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(p, -1)
		for m, rawOp := range item {
			if !slices.Contains(httpMethods, m) {
				continue
			}
			op := rawOp.(map[string]any)
			where := strings.ToUpper(m) + " " + p
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("%s: operationId %s also used by %s", where, id, prev)
			}
			ids[id] = where
			// Path parameters: declared at path or operation level.
			declared := map[string]bool{}
			for _, list := range []any{item["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, rawP := range ps {
					prm := rawP.(map[string]any)
					if r, ok := prm["$ref"].(string); ok {
						prm, _ = resolve(doc, r).(map[string]any)
					}
					if prm["in"] == "path" {
						if prm["required"] != true {
							t.Errorf("%s: path parameter %v must be required", where, prm["name"])
						}
						declared[prm["name"].(string)] = true
					}
				}
			}
			for _, m := range templ {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter {%s} is not declared", where, m[1])
				}
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			hasSuccess := false
			for code := range responses {
				if strings.HasPrefix(code, "2") {
					hasSuccess = true
				}
			}
			if !hasSuccess {
				t.Errorf("%s: no 2xx response", where)
			}
			if slices.Contains(public, p) {
				if sec, ok := op["security"].([]any); !ok || len(sec) != 0 {
					t.Errorf("%s is public but not marked security: []", where)
				}
			} else {
				for _, code := range []string{"401", "403"} {
					if responses[code] == nil {
						t.Errorf("%s: no %s response", where, code)
					}
				}
			}
			if strings.Contains(p, "{id}") && responses["404"] == nil {
				t.Errorf("%s: no 404 response", where)
			}
			if (m == "post" || m == "patch") && op["requestBody"] != nil {
				if responses["400"] == nil || responses["422"] == nil {
					t.Errorf("%s takes a body but lacks 400/422", where)
				}
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := bareServer(t)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	want, _ := os.ReadFile("openapi.json")
	if !bytes.Equal(rec.Body.Bytes(), want) {
		t.Error("served document differs from api/openapi.json")
	}
}

func resolve(doc map[string]any, ref string) any {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	return cur
}

func reflectContains(v any, key string) bool {
	list, _ := v.([]any)
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			if _, ok := m[key]; ok {
				return true
			}
		}
	}
	return false
}

// TestErrorCodesDocumented: every error code in errors.go is in the OpenAPI
// Error enum and in the list of docs/api.md, so new codes cannot go undocumented.
func TestErrorCodesDocumented(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	codesDoc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := loadOpenAPI(t)
	errSchema := resolve(doc, "#/components/schemas/Error/properties/error/properties/code").(map[string]any)
	var enum []string
	for _, v := range errSchema["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	codes := regexp.MustCompile(`(?m)^\s+Code\w+\s*=\s*"(\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 15 {
		t.Fatalf("found only %d codes in errors.go", len(codes))
	}
	for _, m := range codes {
		if !slices.Contains(enum, m[1]) {
			t.Errorf("code %s is not in the OpenAPI Error enum", m[1])
		}
		if !strings.Contains(string(codesDoc), "`"+m[1]+"`") {
			t.Errorf("code %s is not in docs/api.md", m[1])
		}
	}
}

// TestOpenAPILimitsAndOutages: every authenticated operation documents 429
// and 503, and every one taking a body documents 415.
func TestOpenAPILimitsAndOutages(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for p, rawItem := range doc["paths"].(map[string]any) {
		for m, rawOp := range rawItem.(map[string]any) {
			if !slices.Contains(httpMethods, m) {
				continue
			}
			op := rawOp.(map[string]any)
			if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
				continue // public
			}
			responses := op["responses"].(map[string]any)
			want := []string{"429", "503"}
			if op["requestBody"] != nil {
				want = append(want, "415")
			}
			for _, code := range want {
				if responses[code] == nil {
					t.Errorf("%s %s: no %s response", strings.ToUpper(m), p, code)
				}
			}
		}
	}
}
