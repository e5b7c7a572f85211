module podsec.local/netbench

go 1.22
