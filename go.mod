module github.com/tinydigits/tinydigits

go 1.26
