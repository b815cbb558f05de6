package testenv

import "os"

var getenv = os.Getenv
