package main

import (
	"strings"
	"testing"
)

func TestRerunArgs(t *testing.T) {
	tests := []struct{ recorded, want string }{
		{"run -ih kube uptime -h", "run --rerun-of ID -h L -i uptime -h"},
		{"run -F cfg -h a -H b -g x* -p 5 echo hi", "run --rerun-of ID -h L -F cfg -p 5 echo hi"},
		{"run --hosts=a --host b -P true", "run --rerun-of ID -h L -P true"},
		{"provision -h kube docker --var a=b -H c --dry-run", "provision --rerun-of ID -h L docker --var a=b --dry-run"},
		{"copy -h kube --sudo f /etc/f", "copy --rerun-of ID -h L --sudo f /etc/f"},
		{"run --rerun-of OLD -h L0 true", "run --rerun-of ID -h L true"},
		// The failed list is already the selection: --limit and --exclude
		// would look for groups it does not have.
		{"run -h inv.ini --limit web:!db --exclude=w2 -p 3 true", "run --rerun-of ID -h L -p 3 true"},
	}
	for _, tt := range tests {
		got, err := rerunArgs(strings.Fields(tt.recorded), "L", "ID", "", commandFlags(&environment{}))
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("rerunArgs(%q) = %q, %v; want %q", tt.recorded, strings.Join(got, " "), err, tt.want)
		}
	}
	if _, err := rerunArgs([]string{"runs"}, "L", "ID", "", nil); err == nil {
		t.Error("rerun of a non-host command accepted")
	}
}
