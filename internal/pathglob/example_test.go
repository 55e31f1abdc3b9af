package pathglob_test

import (
	"fmt"

	"github.com/bulwark-security/bulwark/internal/pathglob"
)

func ExampleCompile() {
	g, err := pathglob.Compile("/home/*/.ssh/{id_*,authorized_keys}")
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Match("/home/alice/.ssh/id_ed25519"))
	fmt.Println(g.Match("/home/alice/.ssh/known_hosts"))
	fmt.Println(g.Prefix())

	_, err = pathglob.Compile("/etc/{a,b")
	fmt.Println(err)
	// Output:
	// true
	// false
	// /home/
	// pathglob: unclosed '{' at offset 5 in "/etc/{a,b"
}
