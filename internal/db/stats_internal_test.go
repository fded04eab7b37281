package db

import (
	"fmt"
	"testing"
)

func TestHistogramColumn(t *testing.T) {
	for src, want := range map[string]string{"{}": "[]", "{0}": "[0]", "{3,0,12}": "[3 0 12]", "{1,2147483647}": "[1 2147483647]"} {
		var h histogramColumn
		if err := h.Scan([]byte(src)); err != nil || fmt.Sprint([]int64(h)) != want {
			t.Errorf("%s: %v %v", src, h, err)
		}
	}
	for _, bad := range []string{"", "{", "{1,}", "{,1}", "{1,NULL}", "{-1}", "[1]", "{1 2}", "{1}{2}"} {
		var h histogramColumn
		if err := h.Scan([]byte(bad)); err == nil {
			t.Errorf("%q scanned as %v", bad, h)
		}
	}
}
