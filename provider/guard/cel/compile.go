package cel

import (
	"fmt"
	"sync"

	celgo "github.com/google/cel-go/cel"
	admv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/version"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// MinKubernetes is the oldest API server the guardrails target: the first
// with ValidatingAdmissionPolicy GA. Compile uses its CEL environment, so
// an expression that needs a newer library fails at plan, not at apply.
var MinKubernetes = version.MajorMinor(1, 30)

var (
	compilerOnce sync.Once
	compiler     plugincel.Compiler
)

// Compiler is the API server's CEL compiler for admission expressions,
// with the base environment of MinKubernetes: the one kube-apiserver
// builds in its admissionregistration validation.
func Compiler() plugincel.Compiler {
	compilerOnce.Do(func() { compiler = plugincel.NewCompiler(environment.MustBaseEnvSet(MinKubernetes)) })
	return compiler
}

// expression is plugincel.ExpressionAccessor for one expression.
type expression struct {
	text    string
	returns *celgo.Type
}

func (e expression) GetExpression() string                   { return e.text }
func (e expression) ReturnTypes() []*celgo.Type              { return []*celgo.Type{e.returns} }
func boolExpression(s string) plugincel.ExpressionAccessor   { return expression{s, celgo.BoolType} }
func stringExpression(s string) plugincel.ExpressionAccessor { return expression{s, celgo.StringType} }

// Compile compiles every expression of a policy as kube-apiserver does when
// the policy is created: match conditions and validations with the
// authorizer declared, message expressions without, all as new
// expressions (the stricter environment). It returns one error per
// expression that does not compile.
func Compile(p *admv1.ValidatingAdmissionPolicy) []error {
	type item struct {
		field string
		expr  plugincel.ExpressionAccessor
		decls plugincel.OptionalVariableDeclarations
	}
	var items []item
	withAuthz := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	for i, m := range p.Spec.MatchConditions {
		items = append(items, item{fmt.Sprintf("spec.matchConditions[%d].expression", i), boolExpression(m.Expression), withAuthz})
	}
	for i, v := range p.Spec.Validations {
		items = append(items, item{fmt.Sprintf("spec.validations[%d].expression", i), boolExpression(v.Expression), withAuthz})
		if v.MessageExpression != "" {
			items = append(items, item{fmt.Sprintf("spec.validations[%d].messageExpression", i), stringExpression(v.MessageExpression), plugincel.OptionalVariableDeclarations{}})
		}
	}
	var errs []error
	for _, it := range items {
		if r := Compiler().CompileCELExpression(it.expr, it.decls, environment.NewExpressions); r.Error != nil {
			errs = append(errs, fmt.Errorf("policy %s: %s: %s", p.Name, it.field, r.Error.Detail))
		}
	}
	return errs
}

// Program compiles one expression for evaluation (tests, the audit's own
// self-check): the API server's program, with its per-call cost limit.
func Program(text string, returnsString bool) (celgo.Program, error) {
	acc, decls := boolExpression(text), plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	if returnsString {
		acc, decls = stringExpression(text), plugincel.OptionalVariableDeclarations{}
	}
	r := Compiler().CompileCELExpression(acc, decls, environment.NewExpressions)
	if r.Error != nil {
		return nil, fmt.Errorf("compile %q: %s", text, r.Error.Detail)
	}
	return r.Program, nil
}
