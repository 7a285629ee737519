package history_test

import (
	"fmt"

	"github.com/flyt-platform/flyt/history"
)

// Logs and errors show a DSN only through RedactDSN.
func ExampleRedactDSN() {
	fmt.Println(history.RedactDSN("postgres://flyt:hemmelig@db.internal:5432/flyt?sslmode=require"))
	fmt.Println(history.RedactDSN("host=db.internal user=flyt password=hemmelig dbname=flyt"))
	// Output:
	// postgres://flyt:REDACTED@db.internal:5432/flyt?sslmode=require
	// host=db.internal user=flyt password=REDACTED dbname=flyt
}
