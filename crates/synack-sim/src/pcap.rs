//! pcap capture files (libpcap format).
