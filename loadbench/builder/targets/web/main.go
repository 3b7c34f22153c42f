// web: the seed article's program. It links net/http and encoding/json (so their package
// initialisers run at start-up) but exits at once unless given -serve.
package main

import (
	"encoding/json"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"hello": "world"})
		})
		_ = http.ListenAndServe("127.0.0.1:8080", nil)
	}
	os.Exit(0)
}
