"""cluster: adds automatic fine labels (k-means within each coarse class) to a built dataset."""
