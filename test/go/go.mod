module goflate

go 1.19
