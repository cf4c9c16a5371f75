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
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("data-dir", "data", "directory for the SQLite files (created if missing)")
	flag.Parse()

	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("cannot create data dir: %v", err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/",
	})
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("ferretdb-embed listening on %s, data in %s\n", *addr, *dir)
	f.Run(ctx)
}
