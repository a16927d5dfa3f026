package bench

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal (a character device is not
// enough: /dev/null is one).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressPrinter prints a progress line: on a terminal redrawn in place
// (\r) every update, elsewhere (a file, a pipe) one plain line per
// nonTTYEvery and the final one, so logs hold no carriage returns.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	last  time.Time
	every time.Duration
}

const nonTTYEvery = 10 * time.Second

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, tty: isTerminal(w), last: time.Now(), every: nonTTYEvery}
}

// update prints an intermediate line.
func (p *progressPrinter) update(format string, args ...any) {
	if p.tty {
		fmt.Fprintf(p.w, "\r"+format+"    ", args...)
		return
	}
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// final prints the last line and ends it.
func (p *progressPrinter) final(format string, args ...any) {
	if p.tty {
		fmt.Fprintf(p.w, "\r"+format+"    \n", args...)
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
