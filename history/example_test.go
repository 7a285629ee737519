package history_test

import (
	"fmt"

	"github.com/flyt-platform/flyt/history"
)

// Logs and errors show a DSN only through RedactDSN.
func ExampleRedactDSN() {
	fmt.Println(history.RedactDSN("postgres://flyt:hemmelig@db.internal:5432/flyt?sslmode=require"))
	// Output: postgres://flyt:xxxxx@db.internal:5432/flyt?sslmode=require
}
