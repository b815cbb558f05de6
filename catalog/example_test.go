package catalog_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
)

// An import keeps the good rows and lists the bad ones; an export reads the
// stored upload again and writes it with the current stock.
func Example() {
	upload := "商品番号,販売者商品コード,在庫数\n1001,TS-001,12\n1002,MUG-01,abc\n1003,,5\n"
	f, err := catalog.Read("GoodsList.csv", strings.NewReader(upload), catalog.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range f.Rows {
		fmt.Println(f.Kind, r.SKU(), r.Qty)
	}
	for _, e := range f.Errors {
		fmt.Println(e)
	}

	stock := map[string]int64{"TS-001": 9}
	f, _ = catalog.Read("GoodsList.csv", strings.NewReader(upload), catalog.Options{})
	err = catalog.Write(os.Stdout, f, func(r catalog.Row) (int64, bool) {
		v, ok := stock[r.SKU()]
		return v, ok
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// goods TS-001 12
	// goods 1003 5
	// GoodsList.csv:3:3 (在庫数): qty "abc" is not a number
	// 商品番号,販売者商品コード,在庫数
	// 1001,TS-001,9
	// 1002,MUG-01,abc
	// 1003,,5
}
