package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"auth/httpapi"
	"auth/internal/testhttp"
)

// The OpenAPI document is kept in the JSON-compatible subset of YAML, so
// encoding/json reads it here and no YAML library is needed.

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		SecuritySchemes map[string]any      `json:"securitySchemes"`
		Parameters      map[string]apiParam `json:"parameters"`
		Responses       map[string]any      `json:"responses"`
		Schemas         map[string]any      `json:"schemas"`
		Headers         map[string]any      `json:"headers"`
	} `json:"components"`
}

type apiParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type apiOperation struct {
	OperationID    string                     `json:"operationId"`
	Parameters     []apiParam                 `json:"parameters"`
	Security       []map[string][]string      `json:"security"`
	Responses      map[string]json.RawMessage `json:"responses"`
	RegisteredWhen string                     `json:"x-registered-when"`
	RequestBody    json.RawMessage            `json:"requestBody"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// fetchOpenAPI gets the document from the server, as a client would.
func fetchOpenAPI(t *testing.T, s *testServer) []byte {
	t.Helper()
	resp, body := testhttp.Get(t, s.base+"/openapi.yaml")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.yaml = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("GET /openapi.yaml: Content-Type %q, want application/yaml", ct)
	}
	if string(body) != string(httpapi.OpenAPI()) {
		t.Error("GET /openapi.yaml differs from httpapi.OpenAPI()")
	}
	return body
}

func parseOpenAPI(t *testing.T, raw []byte) (openAPIDoc, map[httpapi.Route]apiOperation) {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.yaml is not in the JSON-compatible subset of YAML: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	ops := map[httpapi.Route]apiOperation{}
	for path, item := range doc.Paths {
		for method, rawOp := range item {
			if !slices.Contains(httpMethods, method) {
				if method != "parameters" && method != "summary" && method != "description" {
					t.Errorf("path %s: unknown field %q", path, method)
				}
				continue
			}
			var op apiOperation
			if err := json.Unmarshal(rawOp, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[httpapi.Route{Method: strings.ToUpper(method), Path: path}] = op
		}
	}
	return doc, ops
}

// TestOpenAPIMatchesRoutes: the document describes exactly the routes the
// server registers, no more, no less. A route that only some
// configurations register is marked "x-registered-when" in the document;
// it may be missing from a server, and a server configured with
// everything registers all of them.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	configs := map[string]func(*httpapi.Config){
		"default": func(*httpapi.Config) {},
		"everything": func(c *httpapi.Config) {
			c.Registerer, c.Gatherer = reg, reg
		},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, cfg)
			_, ops := parseOpenAPI(t, fetchOpenAPI(t, s))
			registered := map[httpapi.Route]bool{}
			for _, r := range s.srv.Routes() {
				registered[r] = true
				if _, ok := ops[r]; !ok {
					t.Errorf("%s %s is registered but not in openapi.yaml", r.Method, r.Path)
				}
			}
			for r, op := range ops {
				if registered[r] {
					continue
				}
				if op.RegisteredWhen == "" || name == "everything" {
					t.Errorf("%s %s is in openapi.yaml but not registered", r.Method, r.Path)
				}
			}
		})
	}
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIConsistent: every reference resolves, every path parameter is
// declared, every operation has a unique id and its answers; /v1 routes
// take the key from the bearer scheme and never from the path; errors
// have the {"error": "..."} shape.
func TestOpenAPIConsistent(t *testing.T) {
	raw := httpapi.OpenAPI()
	doc, ops := parseOpenAPI(t, raw)

	// Every $ref points at something.
	var all any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolves(all, ref) {
					t.Errorf("$ref %q resolves to nothing", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(all)

	ids := map[string]httpapi.Route{}
	for r, op := range ops {
		where := r.Method + " " + r.Path
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", where)
		} else if prev, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share operationId %q", where, prev.Method+" "+prev.Path, op.OperationID)
		}
		ids[op.OperationID] = r
		if _, ok := op.Responses["200"]; !ok {
			t.Errorf("%s documents no 200 answer", where)
		}
		// A membership's window is the one body of a POST with path
		// parameters.
		window := r.Method == "POST" && r.Path == "/v1/membership/{user}/{role}"
		if (r.Method == "POST" && strings.HasPrefix(r.Path, "/v1/") && !strings.Contains(r.Path, "{") || window) != (op.RequestBody != nil) {
			t.Errorf("%s: only the /v1 POSTs without path parameters (check, import) and the membership's (its window) take a body", where)
		}
		if _, ok := op.Responses["405"]; !ok {
			t.Errorf("%s documents no 405 answer", where)
		}
		// Path parameters: each {name} in the path is declared, in the path.
		declared := map[string]bool{}
		for _, p := range op.Parameters {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "path" {
				declared[p.Name] = true
			}
		}
		var inPath []string
		for _, m := range pathParamRE.FindAllStringSubmatch(r.Path, -1) {
			inPath = append(inPath, m[1])
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", where, m[1])
			}
		}
		if len(declared) != len(inPath) {
			t.Errorf("%s declares path parameters %v, the path has %v", where, declared, inPath)
		}
		v1 := strings.HasPrefix(r.Path, "/v1/")
		if v1 {
			if slices.Contains(inPath, "key") {
				t.Errorf("%s: a /v1 route with the key in the path", where)
			}
			if len(op.Security) != 1 || op.Security[0]["bearerKey"] == nil {
				t.Errorf("%s: a /v1 route without the bearerKey security", where)
			}
			if _, ok := op.Responses["401"]; !ok {
				t.Errorf("%s documents no 401 answer", where)
			}
		}
		if strings.HasPrefix(r.Path, "/api/") && (len(inPath) == 0 || inPath[0] != "key") {
			t.Errorf("%s: an original route whose first parameter is not the key", where)
		}
		for code, resp := range op.Responses {
			if code[0] != '4' && code[0] != '5' {
				continue
			}
			var ref struct {
				Ref string `json:"$ref"`
			}
			json.Unmarshal(resp, &ref)
			if r.Path == "/readyz" && code == "503" {
				continue // {"status": "not ready", "error": "..."}
			}
			if !strings.HasPrefix(ref.Ref, "#/components/responses/") {
				t.Errorf("%s %s: error answers refer to a shared response", where, code)
			}
		}
	}
	for name := range doc.Components.Responses {
		body, _ := json.Marshal(doc.Components.Responses[name])
		if !strings.Contains(string(body), `"#/components/schemas/Error"`) && !strings.Contains(string(body), `"#/components/schemas/Behind"`) {
			t.Errorf("response %s is not an error shape", name)
		}
	}
	for _, want := range []string{"Error", "Behind"} {
		body, _ := json.Marshal(doc.Components.Schemas[want])
		if !strings.Contains(string(body), `"required":["error"`) {
			t.Errorf("schema %s does not require \"error\": %s", want, body)
		}
	}
}

// resolves reports whether a local JSON pointer names something in doc.
func resolves(doc any, ref string) bool {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := doc
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}
