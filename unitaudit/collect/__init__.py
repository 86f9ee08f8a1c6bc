"""`unitaudit collect`: everything a diagnosis reads on this machine, in one bundle that
`scan --bundle` reads anywhere (sources/bundle)."""
