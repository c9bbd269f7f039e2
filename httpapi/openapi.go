package httpapi

import (
	_ "embed"

	"github.com/valyala/fasthttp"
)

// openAPI is the OpenAPI 3.1 description of every route, served at
// GET /openapi.yaml. It is written in the JSON-compatible subset of YAML
// (YAML 1.2 is a superset of JSON), so that any YAML or JSON reader takes
// it and the tests check it with encoding/json alone. openapi_test.go
// holds it to exactly the routes the server registers: a route added
// without its description fails the tests.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns a copy of the OpenAPI document served at /openapi.yaml.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func (s *Server) registerOpenAPI() {
	s.handle(fasthttp.MethodGet, "/openapi.yaml", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/yaml")
		ctx.SetBody(openAPI)
	})
}
