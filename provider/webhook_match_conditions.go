package provider

import (
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"k8s.io/apimachinery/pkg/util/validation"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"
)

// maxMatchConditions is the API server's limit per webhook.
const maxMatchConditions = 64

// matchConditionCompiler is the compiler kube-apiserver checks a webhook's
// match conditions with when the configuration is written (k8s.io/kubernetes
// pkg/apis/admissionregistration/validation, getStrictStatelessCELCompiler):
// the base CEL environment at the default compatibility version. Built
// once: the environments take a while to construct.
var matchConditionCompiler = sync.OnceValue(func() plugincel.Compiler {
	return plugincel.NewCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
})

// compileMatchCondition compiles expression as the API server compiles a
// new webhook match condition: the variables request, object, oldObject,
// authorizer and authorizer.requestResource (no params), a bool result.
// It returns the compiler's message, or "" when the expression compiles.
func compileMatchCondition(expression string) string {
	trimmed := strings.TrimSpace(expression)
	if trimmed == "" {
		return "the expression is empty"
	}
	result := matchConditionCompiler().CompileCELExpression(
		&matchconditions.MatchCondition{Expression: trimmed},
		plugincel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true},
		environment.NewExpressions,
	)
	if result.Error != nil {
		return result.Error.Detail
	}
	return ""
}

// validateMatchConditions refuses at validate and plan what the API server
// would refuse at apply: an expression that does not compile, a name that
// is not a qualified name, or a name used twice in the webhook. Unknown
// values are left to apply.
func validateMatchConditions(i int, conditions []matchCondModel, diags *diag.Diagnostics) {
	seen := map[string]int{}
	for j, c := range conditions {
		at := path.Root("webhook").AtListIndex(i).AtName("match_condition").AtListIndex(j)
		where := fmt.Sprintf("webhook[%d].match_condition[%d]", i, j)
		if !c.Name.IsUnknown() && !c.Name.IsNull() {
			name := c.Name.ValueString()
			if errs := validation.IsQualifiedName(name); len(errs) > 0 {
				diags.AddAttributeError(at.AtName("name"), "Invalid match condition name",
					fmt.Sprintf("%s.name %q: %s.", where, name, strings.Join(errs, "; ")))
			} else if first, dup := seen[name]; dup {
				diags.AddAttributeError(at.AtName("name"), "Duplicate match condition name",
					fmt.Sprintf("%s.name %q is already the name of match_condition[%d]: names are unique in a webhook.", where, name, first))
			} else {
				seen[name] = j
			}
		}
		if !c.Expression.IsUnknown() && !c.Expression.IsNull() {
			if msg := compileMatchCondition(c.Expression.ValueString()); msg != "" {
				diags.AddAttributeError(at.AtName("expression"), "Invalid match condition expression",
					fmt.Sprintf("%s.expression: the API server would refuse this CEL expression: %s", where, msg))
			}
		}
	}
}
