// Package moduledocs renders the inputs and outputs tables of the module
// READMEs from the modules' own variables and outputs (the HCL source:
// names, types, defaults, descriptions), between markers, so the README
// cannot drift from the code. test/modules fails when a README is stale;
// `cd test && go run ./cmd/moduledocs` rewrites them.
package moduledocs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Begin and End delimit the generated part of a README.
const (
	Begin = "<!-- BEGIN GENERATED: inputs and outputs (cd test && go run ./cmd/moduledocs) -->"
	End   = "<!-- END GENERATED -->"
)

type variable struct {
	name, typ, def, description string
	required, sensitive         bool
	validations                 int
}

type output struct {
	name, description string
	sensitive         bool
}

// Validations returns, per variable of the module in dir that has any, the
// number of its validation blocks (test/modules checks that each has as
// many expect_failures runs in the module's tests/*.tftest.hcl).
func Validations(dir string) (map[string]int, error) {
	vars, _, err := parse(dir)
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, v := range vars {
		if v.validations > 0 {
			n[v.name] = v.validations
		}
	}
	return n, nil
}

// parse reads the variables and outputs of the module in dir, in file
// and then source order.
func parse(dir string) ([]variable, []output, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	var vars []variable
	var outs []output
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		file, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, nil, fmt.Errorf("parse %s: %s", f, diags.Error())
		}
		for _, b := range file.Body.(*hclsyntax.Body).Blocks {
			switch {
			case b.Type == "variable" && len(b.Labels) == 1:
				v := variable{name: b.Labels[0], required: true}
				for name, a := range b.Body.Attributes {
					text := source(src, a.Expr)
					switch name {
					case "type":
						v.typ = text
					case "default":
						v.def, v.required = text, false
					case "description":
						v.description = stringValue(a.Expr)
					case "sensitive":
						v.sensitive = text == "true"
					}
				}
				for _, inner := range b.Body.Blocks {
					if inner.Type == "validation" {
						v.validations++
					}
				}
				vars = append(vars, v)
			case b.Type == "output" && len(b.Labels) == 1:
				o := output{name: b.Labels[0]}
				if a, ok := b.Body.Attributes["description"]; ok {
					o.description = stringValue(a.Expr)
				}
				if a, ok := b.Body.Attributes["sensitive"]; ok {
					o.sensitive = source(src, a.Expr) == "true"
				}
				outs = append(outs, o)
			}
		}
	}
	return vars, outs, nil
}

// Render returns the tables for the module in dir.
func Render(dir string) (string, error) {
	vars, outs, err := parse(dir)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString(Begin + "\n### Inputs\n\n| name | type | default | description |\n|---|---|---|---|\n")
	for _, v := range vars {
		def := "required"
		if !v.required {
			def = code(short(v.def))
		}
		desc := oneLine(v.description)
		if v.validations > 0 {
			desc += fmt.Sprintf(" *(%d plan-time check%s)*", v.validations, plural(v.validations))
		}
		if v.sensitive {
			desc += " *(sensitive)*"
		}
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s |\n", v.name, code(short(v.typ)), def, cell(desc))
	}
	sb.WriteString("\n### Outputs\n\n| name | description |\n|---|---|\n")
	for _, o := range outs {
		desc := oneLine(o.description)
		if o.sensitive {
			desc += " *(sensitive)*"
		}
		fmt.Fprintf(&sb, "| `%s` | %s |\n", o.name, cell(desc))
	}
	sb.WriteString(End + "\n")
	return sb.String(), nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Update returns readme with its generated part replaced by tables.
func Update(readme, tables string) (string, error) {
	i, j := strings.Index(readme, Begin), strings.Index(readme, End)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q ... %q markers", Begin, End)
	}
	return readme[:i] + tables + readme[j+len(End)+1:], nil
}

func source(src []byte, e hclsyntax.Expression) string {
	r := e.Range()
	return string(src[r.Start.Byte:r.End.Byte])
}

func stringValue(e hclsyntax.Expression) string {
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.Type().Equals(v.Type()) || v.IsNull() || !v.IsKnown() {
		return ""
	}
	return v.AsString()
}

var space = regexp.MustCompile(`\s+`)

func oneLine(s string) string { return strings.TrimSpace(space.ReplaceAllString(s, " ")) }

// short collapses an HCL type or default onto one line, eliding the
// inside of a long object or map ({…}); the description says what it holds.
func short(s string) string {
	s = oneLine(s)
	if len(s) <= 48 {
		return s
	}
	if i, j := strings.Index(s, "{"), strings.LastIndex(s, "}"); i >= 0 && j > i {
		return s[:i+1] + "…" + s[j:]
	}
	if i, j := strings.Index(s, "["), strings.LastIndex(s, "]"); i >= 0 && j > i {
		return s[:i+1] + "…" + s[j:]
	}
	return s
}

func code(s string) string { return "`" + strings.ReplaceAll(s, "|", `\|`) + "`" }

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
