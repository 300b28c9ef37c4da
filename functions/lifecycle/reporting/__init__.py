"""The owner's report: `lifecycle report` gathers the product's figures (`gather`) into a
`Report` (`document`), which `html` writes as one self-contained page."""
