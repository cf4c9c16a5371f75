// Command ferretdb-embed runs FerretDB v1 on its SQLite backend.
//
// Why a wrapper instead of `go install .../cmd/ferretdb`: the installed binary
// panics at start-up because build/version/version.txt is not in the module
// zip. When FerretDB is not the main module its version init returns early,
// so embedding the public ferretdb package sidesteps the panic cleanly.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("data-dir", "data", "directory for the SQLite files (created if missing)")
	// SQLite's default in WAL mode (FULL) syncs the log at every commit, and
	// FerretDB commits every updated document on its own: an update_many of
	// 10,000 tasks paid 10,000 fsyncs (9 s). NORMAL syncs at checkpoints: a
	// killed process loses nothing and the database never corrupts; a power
	// loss may lose the last commits, like MongoDB's default 100 ms journal
	// interval for unacknowledged-journal writes.
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous pragma: off, normal, full or extra")
	// Go's default collector target (GOGC=100) made garbage collection about
	// a quarter of FerretDB's CPU: every document read or written becomes
	// thousands of small objects. A render farm's store machine has memory to
	// spare, so collect at 4x the live heap instead; $GOGC still wins.
	gcPercent := flag.Int("gc-percent", 400, "Go garbage collector target percentage, unless $GOGC is set")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}

	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("cannot create data dir: %v", err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("ferretdb-embed listening on %s, data in %s\n", *addr, *dir)
	f.Run(ctx)
}
