package recipes

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// Conditions: when (whether a step applies to this host, decided from the
// facts and variables fleet already has, without a round trip) and
// changed_when (whether a run step that succeeded changed something,
// decided from its output). Both are text/template expressions, the
// inside of an {{ if }}: `eq .Vars.k8s_node "true"`, `not .Facts.CRI`,
// `contains .Stdout "Setting up"`.

// condTemplate is the template that evaluates expr.
func condTemplate(expr string) string { return "{{ if " + expr + " }}true{{ end }}" }

// checkCond checks a condition when the recipe is parsed: one expression,
// naming only what templates see (and .Stdout in changed_when).
func checkCond(expr string, vars map[string]string, stdout bool) *templateProblem {
	if strings.Contains(expr, "{{") || strings.Contains(expr, "}}") {
		return &templateProblem{line: 1, msg: "a condition is an expression without {{ }}: when: eq .Vars.x \"yes\""}
	}
	if strings.TrimSpace(expr) == "" {
		return &templateProblem{line: 1, msg: "the condition is empty"}
	}
	return checkTemplateData(condTemplate(expr), vars, stdout)
}

// cond evaluates a condition over d: true when it holds.
func cond(expr string, d any) (bool, error) {
	out, err := execute(condTemplate(expr), d)
	if err != nil {
		return false, err
	}
	return out == "true", nil
}

// changedWhen says whether a run step that succeeded changed something:
// "true" (the default) and "false" are literal, anything else an
// expression that may look at .Stdout.
func (a *applier) changedWhen(s *Step, stdout string) (bool, error) {
	switch strings.TrimSpace(s.ChangedWhen) {
	case "", "true":
		return true, nil
	case "false":
		return false, nil
	}
	d := *a.data
	d.Stdout = slot(strings.TrimSpace(stdout))
	ok, err := cond(s.ChangedWhen, &d)
	if err != nil {
		return false, fmt.Errorf("changed_when: %w", err)
	}
	return ok, nil
}

// Functions for conditions (and every template): text tests on values of
// any string kind (slots included).
var condFuncs = map[string]any{
	"contains":  func(s, sub any) (bool, error) { return strTest(s, sub, strings.Contains) },
	"hasPrefix": func(s, pre any) (bool, error) { return strTest(s, pre, strings.HasPrefix) },
	"hasSuffix": func(s, suf any) (bool, error) { return strTest(s, suf, strings.HasSuffix) },
	"matches": func(s, re any) (bool, error) {
		pattern, _ := asString(re)
		rx, err := regexp.Compile(pattern)
		if err != nil {
			return false, fmt.Errorf("matches: %w", err)
		}
		return strTest(s, re, func(s, _ string) bool { return rx.MatchString(s) })
	},
}

func strTest(a, b any, f func(string, string) bool) (bool, error) {
	x, ok1 := asString(a)
	y, ok2 := asString(b)
	if !ok1 || !ok2 {
		return false, errors.New("want two strings")
	}
	return f(x, y), nil
}

// asString is v's text when v is of a string kind (a slot, a string).
func asString(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.String {
		return "", false
	}
	return rv.String(), true
}
