package table

import "testing"

func TestTable(t *testing.T) {
	tests := []struct {
		name string
		tab  *Table
		want string
	}{
		{"header only", New("Step", "State"), "| Step | State |\n|---|---|\n"},
		{"rows", New("Area", "Sampled").Row("Longbao", 6969).Row("Xinyuan", 0),
			"| Area | Sampled |\n|---|---|\n| Longbao | 6969 |\n| Xinyuan | 0 |\n"},
		{"escaped", New("Detail").Row("a|b\nc"), "| Detail |\n|---|\n| a\\|b c |\n"},
		{"padded and cut", New("A", "B").Row("x").Row(1, 2, 3), "| A | B |\n|---|---|\n| x |  |\n| 1 | 2 |\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tab.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	if n := New("A").Row(1).Row(2).Len(); n != 2 {
		t.Errorf("Len() = %d, want 2", n)
	}
}
