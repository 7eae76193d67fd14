"""The dataset builder: mutants of the shipped tasks labelled with the real JDK, client splits, other formats read in."""
