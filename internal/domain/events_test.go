package domain

import (
	"slices"
	"testing"
)

func TestPathPrefixes(t *testing.T) {
	t.Parallel()
	got := PathPrefixes("xiaodian/beiying/longbao")
	want := []string{"xiaodian", "xiaodian/beiying", "xiaodian/beiying/longbao"}
	if !slices.Equal(got, want) {
		t.Errorf("PathPrefixes() = %v, want %v", got, want)
	}
}
