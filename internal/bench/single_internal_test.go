package bench

import (
	"os"
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	st := []byte("Name:\tfloe\nVmPeak:\t 2000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 1000 kB\n")
	if n, ok := parseVmHWM(st); !ok || n != 123456*1024 {
		t.Fatalf("parseVmHWM = %d, %v", n, ok)
	}
	if _, ok := parseVmHWM([]byte("VmRSS:\t1 kB\n")); ok {
		t.Fatal("no VmHWM line accepted")
	}
	// This process's own peak: positive and not below its current heap.
	if _, err := os.Stat("/proc/self/status"); err == nil {
		if n, ok := vmHWM(); !ok || n <= 0 {
			t.Fatalf("vmHWM = %d, %v", n, ok)
		}
	}
}
